import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isZerodropError } from '@zerodrop/protocol';
import { RawDevice, startGateway, type TestGateway, waitFor } from './test-support/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('delivery', () => {
  const open: TestGateway[] = [];
  after(async () => {
    for (const g of open) await g.close();
  });

  it('acks a device message only after the handler resolved, and hands it over once', async () => {
    let release!: () => void;
    const calls: number[] = [];
    const g = await startGateway(
      {},
      {
        app: {
          onMessage: (m) => {
            calls.push(m.seq);
            return new Promise<void>((r) => {
              release = r;
            });
          },
        },
      },
    );
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-slow');
    dev.send({ t: 'msg', seq: 1, ack: 0, data: 'hello' });
    await waitFor(() => calls.length === 1, 'the handler call');
    await sleep(100);
    assert.ok(!dev.frames.some((f) => f.t === 'ack'), 'no ack while the handler runs');
    dev.send({ t: 'msg', seq: 1, ack: 0, data: 'hello' }); // a duplicate while processing
    release();
    const ack = await dev.next('ack');
    assert.equal(ack.ack, 1);
    await sleep(50);
    assert.deepEqual(calls, [1], 'the duplicate never reached the handler');
    dev.close();
  });

  it('refuses a send beyond 200 unacknowledged messages with buffer_full and evicts nothing', async () => {
    const g = await startGateway();
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-full');
    for (let n = 1; n <= 200; n++) await g.gateway.send('bear-full', { n });
    await assert.rejects(
      g.gateway.send('bear-full', { n: 201 }),
      (err) => isZerodropError(err) && err.code === 'buffer_full',
    );
    await waitFor(() => dev.dataFrames().length === 200, '200 messages');
    assert.deepEqual(
      dev.dataFrames().map((f) => f.seq),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    dev.send({ t: 'ack', ack: 50 });
    await sleep(30);
    assert.equal(await g.gateway.send('bear-full', { n: 201 }), 201, 'an ack frees room');
    dev.close();
  });

  it('refuses a send to a device that never connected with unknown_device', async () => {
    const g = await startGateway();
    open.push(g);
    await assert.rejects(
      g.gateway.send('nobody', { hi: 1 }),
      (err) => isZerodropError(err) && err.code === 'unknown_device',
    );
  });

  it('a handler that throws dead-letters the message, counts it, and the session goes on', async () => {
    const letters: unknown[] = [];
    const seen: number[] = [];
    const g = await startGateway(
      {},
      {
        app: {
          onMessage: (m) => {
            seen.push(m.seq);
            if (m.seq === 1) throw new Error('poison');
          },
          onDeadLetter: (l) => void letters.push(l),
        },
      },
    );
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-poison');
    dev.send({ t: 'msg', seq: 1, ack: 0, data: 'poison' });
    dev.send({ t: 'msg', seq: 2, ack: 0, data: 'fine' });
    await waitFor(() => seen.length === 2, 'both messages');
    await waitFor(() => letters.length === 1, 'a dead letter');
    assert.deepEqual(letters[0], {
      deviceId: 'bear-poison',
      sessionId: (letters[0] as { sessionId: string }).sessionId,
      direction: 'device_to_server',
      seq: 1,
      reason: 'handler_failed',
      data: 'poison',
      binary: false,
    });
    assert.equal(g.gateway.metrics.dropped_messages.total(), 1);
    dev.close();
  });

  it('closes a device that stops answering pings with a heartbeat timeout', async () => {
    const g = await startGateway({ heartbeatMs: 50, heartbeatTimeoutMs: 300 });
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-silent');
    dev.ws.pause(); // stops reading: no pongs go out
    await waitFor(() => g.gateway.connections() === 0, 'the silent device to be closed', 3000);
    assert.equal(g.gateway.metrics.ws_closes_total.get({ code: 'heartbeat_timeout' }), 1);
    dev.cut();
  });
});
