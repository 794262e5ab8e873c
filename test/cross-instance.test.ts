/**
 * Delivery to a device on any instance: with a shared Redis store, `send` and the push API work from
 * every instance. The instance that holds a session numbers its messages; the others forward to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type ZerodropClient } from '@zerodrop/client';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { RawDevice, waitFor } from '../packages/server/src/test-support/harness.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';

const TOKEN = 'cross-instance-service-token';

async function push(url: string, device: string, value: unknown) {
  const res = await fetch(`${url}/api/v1/devices/${device}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(value),
  });
  return { status: res.status, body: (await res.json()) as { seq?: number; error?: { code: string } } };
}

describe('delivery from any instance', () => {
  let redis: RedisProcess;
  let a: GatewayProcess;
  let b: GatewayProcess;
  const clients: ZerodropClient[] = [];

  before(async () => {
    redis = await RedisProcess.start();
    const env = { REDIS_URL: redis.url, ZERODROP_SERVICE_TOKEN: TOKEN };
    [a, b] = await Promise.all([
      GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app' }),
      GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app_replica' }),
    ]);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.destroy();
  });

  it('a message pushed to either instance reaches a device connected to A, in the order accepted', async () => {
    const got: unknown[] = [];
    const client = createClient({ url: a.wsUrl, deviceId: 'bear-x' });
    clients.push(client);
    client.on('message', (v) => void got.push(v));
    await waitFor(() => client.status === 'open', 'bear-x on A');
    const seqs: number[] = [];
    for (let n = 1; n <= 20; n++) {
      const r = await push(n % 2 ? b.url : a.url, 'bear-x', { n });
      assert.equal(r.status, 202, `push ${n}`);
      seqs.push(r.body.seq!);
    }
    assert.deepEqual(
      seqs,
      Array.from({ length: 20 }, (_, i) => i + 1),
      'one instance numbered them all',
    );
    await waitFor(() => got.length === 20, 'twenty messages');
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => ({ n: i + 1 })),
    );
    const viaIpc = await b.send('bear-x', { n: 21 });
    assert.equal(viaIpc.seq, 21, 'gateway.send() on B forwards too');
    await waitFor(() => got.length === 21, 'the 21st');
  });

  it('a device that left keeps receiving from any instance and gets everything when it resumes elsewhere', async () => {
    const dev = await RawDevice.connect(b.wsUrl);
    const w = await dev.hello('bear-y');
    dev.close();
    await dev.closed;
    for (let n = 1; n <= 3; n++) assert.equal((await push(a.url, 'bear-y', { n })).status, 202);
    const back = await RawDevice.connect(a.wsUrl);
    const w2 = await back.hello('bear-y', { session: w.session, epoch: w.epoch, token: w.token, ack: 0 });
    assert.equal(w2.outcome, 'resumed');
    assert.equal(w2.instance, 'app');
    await waitFor(() => back.dataFrames().length === 3, 'the three messages');
    assert.deepEqual(
      back.dataFrames().map((f) => [f.seq, f.data]),
      [
        [1, { n: 1 }],
        [2, { n: 2 }],
        [3, { n: 3 }],
      ],
    );
    // B no longer holds the session: a send on B now goes to A.
    assert.equal((await push(b.url, 'bear-y', { n: 4 })).body.seq, 4);
    await waitFor(() => back.dataFrames().length === 4, 'the fourth, via A');
    back.close();
  });

  it('answers 404 on any instance for a device that never connected', async () => {
    for (const g of [a, b]) {
      const r = await push(g.url, 'bear-never', { n: 1 });
      assert.equal(r.status, 404);
      assert.equal(r.body.error?.code, 'unknown_device');
    }
  });
});
