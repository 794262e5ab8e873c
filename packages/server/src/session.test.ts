/**
 * The session's store writes under interleavings that real traffic produces only under load: a
 * device ack arriving while an append is in flight, a processed mark still on its way when the
 * device would like its ack, a session ended while a progress write is in flight. The store is the
 * memory store behind a gate that applies writes one at a time in order, as one Redis connection
 * does, and can be held shut to stand in for a slow round trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, type Payload } from '@zerodrop/protocol';
import type { GatewayApp } from './app.js';
import type { Logger } from './logger.js';
import { createGatewayMetrics } from './metrics.js';
import { Session, type SessionTransport } from './session.js';
import { MemoryResumeStore } from './store/memory-store.js';
import type { ResumeStore } from './store/resume-store.js';

const json = (v: unknown): Payload => ({ kind: 'json', json: JSON.stringify(v) });
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** The memory store, its writes applied in order one at a time; `hold` keeps them waiting. */
function gatedStore(inner: MemoryResumeStore) {
  let chain: Promise<unknown> = Promise.resolve();
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const writes = new Set(['append', 'saveProgress', 'touch', 'rotateToken']);
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (typeof key !== 'string' || !writes.has(key)) return value.bind(target);
      return (...args: unknown[]) => {
        const waitFor = gate;
        const done = chain.then(async () => {
          if (waitFor) await waitFor;
          return value.apply(target, args);
        });
        chain = done.catch(() => undefined);
        return done;
      };
    },
  }) as ResumeStore;
  return {
    store,
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release: () => {
      gate = undefined;
      open?.();
    },
  };
}

async function setup(maxUnacked: number, app: GatewayApp = {}) {
  const inner = new MemoryResumeStore({ instanceId: 'A', ttlMs: 60_000, tombstoneTtlMs: 60_000 });
  await inner.createSession({ sessionId: 's1', deviceId: 'd1', epoch: 'e1', tokenHash: 'h', outbound: [] });
  const gated = gatedStore(inner);
  const wire: string[] = [];
  let retired = 0;
  const silent = { info() {}, warn() {}, debug() {}, error() {} } as unknown as Logger;
  const session = new Session((await inner.getSession('s1'))!, {
    store: gated.store,
    metrics: createGatewayMetrics({
      connections: () => 1,
      sessions: () => 1,
      storeUp: () => 1,
      storePendingWrites: () => 0,
    }),
    log: silent,
    app,
    maxUnacked,
    onRetired: () => void retired++,
    deadLetter: () => {},
  });
  const transport: SessionTransport = {
    writeData: (_p, seq, ack) => void wire.push(`data ${seq} ack ${ack}`),
    writeAck: (ack) => void wire.push(`ack ${ack}`),
    protocolError: (_e, detail) => void wire.push(`protocol error ${detail}`),
    close: (e) => void wire.push(`close ${e.code}`),
  };
  session.attach(transport, 0);
  const stored = async () => (await inner.getSession('s1'))!;
  return { session, wire, stored, retiredCount: () => retired, ...gated };
}

describe('Session store writes', () => {
  it('a device ack that arrives while an append is in flight frees room for the next append', async () => {
    const { session, hold, release, stored } = await setup(4);
    for (let i = 1; i <= 4; i++) await session.send(json(i));
    session.onAck(1);
    hold();
    const fifth = session.send(json(5)); // takes ack 1 along
    session.onAck(2); // while that append waits
    const sixth = session.send(json(6)); // 3 held in memory: room, and the store must agree
    release();
    assert.deepEqual(await Promise.all([fifth, sixth]), [5, 6]);
    const rec = await stored();
    assert.equal(rec.outAcked, 2);
    assert.deepEqual(
      rec.outbound.map((m) => m.seq),
      [3, 4, 5, 6],
    );
  });

  it('acks a device message only once its processed mark is in the store', async () => {
    const handled: number[] = [];
    const { session, wire, hold, release, stored } = await setup(8, {
      onMessage: (m) => void handled.push(m.seq),
    });
    hold();
    session.onData(1, 'a', false);
    session.onData(2, 'b', false);
    for (let i = 0; i < 5; i++) await turn();
    assert.deepEqual(handled, [1, 2], 'the handler does not wait for the marks');
    assert.deepEqual(wire, [], 'no ack while the marks are not stored');
    release();
    for (let i = 0; i < 5 && (await stored()).inProcessed < 2; i++) await turn();
    assert.equal((await stored()).inProcessed, 2);
    for (let i = 0; i < 5 && wire.length === 0; i++) await turn();
    assert.deepEqual(wire, ['ack 2'], 'one ack, for both, after the marks');
  });

  it('an ack that waited for a write is saved before an ended session goes quiet, and it retires once', async () => {
    const { session, hold, release, stored, retiredCount } = await setup(8, { onMessage: () => {} });
    await session.send(json(1));
    await session.send(json(2));
    hold();
    session.onData(1, 'a', false); // its mark is in flight
    await turn();
    session.onAck(2); // waits for a write to ride along with
    session.end(Errors.SESSION_REPLACED);
    const quiet = session.quiesced();
    release();
    await quiet;
    const rec = await stored();
    assert.equal(rec.inProcessed, 1);
    assert.equal(rec.outAcked, 2, 'the ack is in the store by the time a takeover may read it');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(retiredCount(), 1);
  });
});
