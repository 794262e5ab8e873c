/**
 * Runbook §3, Instance Crash Recovery: two real gateway processes share one real Redis; devices
 * stream both ways on instance A; A is SIGKILLed; the devices reconnect to B and resume, and nothing
 * accepted before or after the crash is lost or delivered twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { getJson, waitFor } from '../packages/server/src/test-support/harness.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import { startTcpProxy, type TcpProxy } from '../packages/server/src/test-support/tcp-proxy.js';
import {
  checkDeviceToServer,
  checkServerToDevice,
  deviceSend,
  type SimDevice,
  sleep,
  startFleet,
} from './support.js';

const DEVICES = 20;

describe('instance crash', () => {
  let redis: RedisProcess;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let proxy: TcpProxy;
  let fleet: SimDevice[] = [];
  let streaming = true;

  before(async () => {
    redis = await RedisProcess.start();
    const env = { REDIS_URL: redis.url, ZERODROP_HEARTBEAT: '500ms', ZERODROP_HEARTBEAT_TIMEOUT: '3s' };
    [a, b] = await Promise.all([
      GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app' }),
      GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app_replica' }),
    ]);
    proxy = await startTcpProxy(a.port);
  });
  after(async () => {
    streaming = false;
    await sleep(50);
    await Promise.all(fleet.map((d) => d.client.close()));
    await proxy?.close();
    await Promise.all([a?.stop('SIGKILL'), b?.stop()]);
    await redis?.destroy();
  });

  it('devices on a SIGKILLed instance resume on the other one and lose nothing', async (t) => {
    fleet = startFleet(`ws://127.0.0.1:${proxy.port}/ws`, DEVICES, 'bear-crash');
    await waitFor(() => fleet.every((d) => d.client.status === 'open'), 'the fleet on A');

    const accepted = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
    const unknown = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
    let target = a;
    const serverStreams = fleet.map(async (d) => {
      for (let n = 1; streaming; n++) {
        const r = await target.send(d.id, { n });
        if (r.seq !== undefined) accepted.get(d.id)!.push(n);
        else if (r.error === 'instance_stopped') unknown.get(d.id)!.push(n);
        else if (r.error === 'buffer_full') n--;
        else assert.fail(`send to ${d.id} failed with ${r.error}: ${(r as { message?: string }).message}`);
        await sleep(15);
      }
    });
    const deviceStreams = fleet.map(async (d) => {
      while (streaming) {
        deviceSend(d);
        await sleep(15);
      }
    });

    await sleep(1200);
    await a.stop('SIGKILL');
    target = b;
    proxy.retarget(b.port);
    proxy.cutAll();
    await sleep(1500);
    streaming = false;
    await Promise.all([...serverStreams, ...deviceStreams]);

    await waitFor(
      () =>
        fleet.every((d) => d.client.stats().unacked === 0 && d.received.length >= accepted.get(d.id)!.length),
      'every message delivered and acknowledged',
      30_000,
    );
    await sleep(300);

    let redelivered = 0;
    const seenByApp = [...a.received, ...b.received].sort((x, y) => x.arrival - y.arrival);
    for (const d of fleet) {
      assert.ok(d.sent.length > 20, `${d.id} streamed (${d.sent.length} messages)`);
      redelivered += checkDeviceToServer(d.id, d.sent, seenByApp).redelivered;
      checkServerToDevice(d.id, d.received, accepted.get(d.id)!, unknown.get(d.id)!);
    }
    // B resumes each device after the processed mark A stored last, so what B sees again is exactly
    // what A handled after that mark: the tail of A's arrivals, never an older message. How long that
    // tail is depends on how far the mark write lagged at the kill (more on a busy machine).
    for (const d of fleet) {
      const onA = a.received.filter((m) => m.deviceId === d.id).map((m) => m.id);
      const onB = new Set(b.received.filter((m) => m.deviceId === d.id).map((m) => m.id));
      const again = onA.filter((id) => onB.has(id));
      assert.deepEqual(
        again,
        onA.slice(onA.length - again.length),
        `${d.id}: only A's last arrivals come again`,
      );
    }
    t.diagnostic(`device→server redeliveries by id after the kill: ${redelivered}`);

    const { body } = await getJson<{ ws_metrics: Record<string, number>; instance: string }>(
      `${b.url}/api/v1/esp32/metrics`,
    );
    assert.equal(body.instance, 'app_replica');
    assert.equal(body.ws_metrics.ws_active, DEVICES, 'every device is on B');
    assert.equal(body.ws_metrics.ws_resumes, DEVICES, 'each one resumed');
    assert.equal(body.ws_metrics.resume_failures, 0);
    assert.equal(body.ws_metrics.dropped_messages, 0);
    for (const d of fleet) assert.equal(d.client.stats().freshSessions, 1, `${d.id} kept its session`);
  });
});
