/**
 * The client over real sockets: a `ws` server on 127.0.0.1:0 plays the gateway with the shared reliable
 * core and sabotages its connections at random points (TCP destroyed, terminated, a move request, a
 * silent half-open socket). Whatever happens, every message must arrive exactly once, in order, both ways.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, isZerodropError } from '@zerodrop/protocol';
import { createClient, type ZerodropClient } from './client.js';
import { nextEvent, sleep, until } from './test-support/harness.js';
import { ScriptedGateway, seededRandom } from './test-support/scripted-gateway.js';

const COUNT = 300;

/** Message `i` of a stream: even ones as JSON, odd ones as bytes. */
function message(i: number): unknown {
  return i % 2 === 0 ? { i, text: `message ${i}` } : new Uint8Array([0xb1, i & 0xff, i >> 8]);
}

/** The index a received message carries, or a description of what is wrong with it. */
function indexOf(value: unknown): number | string {
  if (value instanceof Uint8Array) {
    if (value.length !== 3 || value[0] !== 0xb1) return `bad bytes ${[...value]}`;
    return value[1]! | (value[2]! << 8);
  }
  const i = (value as { i?: unknown }).i;
  return typeof i === 'number' && (value as { text?: unknown }).text === `message ${i}`
    ? i
    : JSON.stringify(value);
}

const expected = Array.from({ length: COUNT }, (_, i) => i);

/** Send every message, waiting for acks whenever the bounded queue is full, pausing now and then. */
async function sendAll(client: ZerodropClient, random: () => number): Promise<void> {
  for (let i = 0; i < COUNT; ) {
    try {
      client.send(message(i));
      i++;
    } catch (err) {
      if (!isZerodropError(err, Errors.BUFFER_FULL)) throw err;
      await nextEvent(client, 'ack', () => true, 5000);
    }
    if (random() < 0.1) await sleep(Math.floor(random() * 4));
  }
}

/** `native`: the platform's WebSocket (browser-like: no headers, no terminate) instead of `ws`. */
async function run(seed: number, native = false): Promise<void> {
  const random = seededRandom(seed);
  const gateway = await ScriptedGateway.start({
    random,
    heartbeatMs: 40,
    maxUnacked: 25,
    sabotageRate: 0.04,
    maxSabotages: 16,
  });
  const client = createClient({
    url: gateway.url,
    deviceId: 'bear-ws-1',
    ...(native ? {} : { headers: { 'x-affinity-key': 'bear-ws-1' } }),
    maxUnacked: 32,
    backoff: { initialMs: 10, maxMs: 40 },
    random,
  });
  const received: unknown[] = [];
  const errors: Error[] = [];
  client.on('message', (value) => received.push(value));
  client.on('error', (err) => errors.push(err));
  try {
    for (let i = 0; i < COUNT; i++) gateway.push(message(i));
    await sendAll(client, random);
    await until(
      () =>
        received.length >= COUNT &&
        gateway.received.length >= COUNT &&
        client.stats().unacked === 0 &&
        gateway.unacked === 0,
      `both directions complete (seed ${seed})`,
      15_000,
    );
    // Give late replays a moment to show up as extra deliveries, if the dedup were broken.
    await sleep(30);

    assert.deepEqual(
      received.map(indexOf),
      expected,
      `device received each message once, in order (seed ${seed})`,
    );
    assert.deepEqual(
      gateway.received.map(indexOf),
      expected,
      `gateway received each message once, in order (seed ${seed})`,
    );
    assert.deepEqual(gateway.violations, [], `the device kept to the protocol (seed ${seed})`);
    const unexpected = errors.filter(
      (e) => !isZerodropError(e, Errors.HEARTBEAT_TIMEOUT) && !/WebSocket|socket/i.test(e.message),
    );
    assert.deepEqual(
      unexpected.map((e) => e.message),
      [],
      `no errors besides lost connections (seed ${seed})`,
    );

    // Cuts can still land after the last message (pings keep flowing): let a reconnect whose hello the
    // gateway already answered finish before the two ends' counts are compared.
    await until(
      () => client.status === 'open' && client.stats().connects === gateway.handshakes,
      `every welcome the gateway sent reached the device (seed ${seed})`,
      5_000,
    );
    const stats = client.stats();
    const sabotaged = Object.values(gateway.sabotages).reduce((a, b) => a + b, 0);
    assert.ok(
      sabotaged >= 5,
      `the run was sabotaged enough to mean something: ${JSON.stringify(gateway.sabotages)}`,
    );
    assert.equal(stats.connects, gateway.handshakes);
    assert.equal(stats.resumes, gateway.resumes);
    assert.equal(stats.freshSessions, 1);
    assert.equal(stats.delivered, COUNT);
    if (!native) {
      assert.equal(
        gateway.upgradeHeaders[0]?.['x-affinity-key'],
        'bear-ws-1',
        'headers reach the upgrade request',
      );
    }
  } finally {
    await client.close();
    await gateway.close();
  }
}

describe('client over real sockets', () => {
  for (const seed of [1, 7, 42]) {
    it(`delivers ${COUNT} text and binary messages each way exactly once, in order, through random cuts (seed ${seed})`, async () => {
      await run(seed);
    });
  }

  // Node 20 has no global WebSocket (Node >= 22 does, and browsers): registered only where it exists.
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function') {
    it('does the same over the platform WebSocket', async () => {
      await run(5, true);
    });
  }

  it('retries while nothing listens, and connects and delivers once the gateway is back', async () => {
    const options = {
      random: seededRandom(3),
      heartbeatMs: 1000,
      maxUnacked: 10,
      sabotageRate: 0,
      maxSabotages: 0,
    };
    const first = await ScriptedGateway.start(options);
    const url = first.url;
    const port = Number(new URL(url).port);
    await first.close();
    const client = createClient({ url, deviceId: 'bear-ws-2', backoff: { initialMs: 5, maxMs: 20 } });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    let gateway: ScriptedGateway | undefined;
    try {
      const id = client.send('queued while down');
      await nextEvent(client, 'reconnect', (attempt) => attempt >= 3);
      assert.equal(client.status, 'reconnecting');
      assert.ok(errors.length > 0, 'a refused connection is reported as an error event');
      gateway = await ScriptedGateway.start(options, port);
      await client.waitForAck(id);
      assert.equal(client.status, 'open');
      assert.deepEqual(gateway.received, ['queued while down']);
    } finally {
      await client.close();
      await gateway?.close();
    }
  });
});
