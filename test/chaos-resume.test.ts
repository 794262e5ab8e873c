/**
 * The gateway core's promise, end to end through the real SDK and real sockets: a device and the
 * gateway exchange 1,000 messages each way (text and binary) while the network between them is cut
 * 20 times at random points, and every message arrives exactly once, in order, on both sides.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, isZerodropError, type ZerodropClient } from '@zerodrop/client';
import type { DeviceMessage } from '@zerodrop/server';
import { startGateway, type TestGateway, waitFor } from '../packages/server/src/test-support/harness.js';
import { startTcpProxy, type TcpProxy } from '../packages/server/src/test-support/tcp-proxy.js';

const TOTAL = 1000;
const CUTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Message n, text for most, binary (as an "audio chunk" carrying n) for every fifth. */
function message(n: number): unknown {
  if (n % 5 === 0)
    return new Uint8Array([n >> 8, n & 0xff, 0xaa, 0x55, ...Array.from({ length: 64 }, (_, i) => i)]);
  return { n, text: `message ${n}` };
}

function numberOf(value: unknown): number {
  if (value instanceof Uint8Array) {
    assert.equal(value.length, 68, 'binary payload intact');
    assert.equal(value[2], 0xaa);
    return (value[0]! << 8) | value[1]!;
  }
  return (value as { n: number }).n;
}

describe('zero drops through 20 random network cuts', () => {
  let g: TestGateway;
  let proxy: TcpProxy;
  let client: ZerodropClient;
  const atServer: number[] = [];
  const atDevice: number[] = [];

  before(async () => {
    g = await startGateway(
      { heartbeatMs: 500, heartbeatTimeoutMs: 5000, maxMessageRate: 10_000 },
      { app: { onMessage: (m: DeviceMessage) => void atServer.push(numberOf(m.data)) } },
    );
    proxy = await startTcpProxy(g.info.port);
  });
  after(async () => {
    await client?.close();
    await proxy.close();
    await g.close();
  });

  it('delivers 1,000 messages each way exactly once, in order, text and binary', async () => {
    client = createClient({
      url: `ws://127.0.0.1:${proxy.port}/ws`,
      deviceId: 'bear-chaos',
      backoff: { initialMs: 10, maxMs: 200 },
    });
    client.on('message', (value) => void atDevice.push(numberOf(value)));
    client.on('error', () => {});
    await waitFor(() => client.status === 'open', 'the first connection');

    const deviceSends = (async () => {
      for (let n = 1; n <= TOTAL; n++) {
        for (;;) {
          try {
            client.send(message(n));
            break;
          } catch (err) {
            if (!isZerodropError(err) || err.code !== 'buffer_full') throw err;
            await sleep(5);
          }
        }
        if (n % 10 === 0) await sleep(12);
      }
    })();
    const serverSends = (async () => {
      for (let n = 1; n <= TOTAL; n++) {
        for (;;) {
          try {
            await g.gateway.send('bear-chaos', message(n));
            break;
          } catch (err) {
            if (!isZerodropError(err) || err.code !== 'buffer_full') throw err;
            await sleep(5);
          }
        }
        if (n % 10 === 0) await sleep(12);
      }
    })();
    let cuts = 0;
    const chaos = (async () => {
      while (cuts < CUTS) {
        await sleep(30 + Math.random() * 90);
        if (proxy.cutAll() > 0) cuts++;
      }
    })();

    await Promise.all([deviceSends, serverSends, chaos]);
    await waitFor(() => atServer.length >= TOTAL && atDevice.length >= TOTAL, 'every message', 60_000);
    await sleep(200);

    const expected = Array.from({ length: TOTAL }, (_, i) => i + 1);
    assert.equal(cuts, CUTS);
    assert.deepEqual(atServer, expected, 'the application got each device message once, in order');
    assert.deepEqual(atDevice, expected, 'the device got each gateway message once, in order');
    const stats = client.stats();
    assert.ok(stats.reconnects >= CUTS, `the device reconnected after every cut (${stats.reconnects})`);
    assert.equal(stats.freshSessions, 1, 'every reconnect resumed: only the very first session was fresh');
    assert.equal(g.gateway.metrics.dropped_messages.total(), 0);
    assert.equal(g.gateway.metrics.resume_failures.total(), 0);
  });
});
