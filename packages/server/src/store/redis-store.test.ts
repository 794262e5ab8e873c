import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Payload } from '@zerodrop/protocol';
import { Redis } from 'ioredis';
import { waitFor } from '../test-support/harness.js';
import { RedisProcess } from '../test-support/processes.js';
import { resumeStoreConformance } from '../test-support/store-conformance.js';
import { RedisResumeStore } from './redis-store.js';
import type { NewSession } from './resume-store.js';

let redis: RedisProcess;
before(async () => {
  redis = await RedisProcess.start();
});
after(async () => {
  await redis.destroy();
});

let n = 0;
resumeStoreConformance('redis', {
  async make(options) {
    const store = new RedisResumeStore({
      ...options,
      url: redis.url,
      keyPrefix: `conf${++n}:`,
      probeEveryMs: 50,
    });
    await store.open();
    return store;
  },
  async makePeer(options) {
    const store = new RedisResumeStore({
      ...options,
      url: redis.url,
      keyPrefix: `conf${n}:`,
      probeEveryMs: 50,
    });
    await store.open();
    return store;
  },
});

describe('Redis store', () => {
  const json = (v: unknown): Payload => ({ kind: 'json', json: JSON.stringify(v) });
  const session = (id: string): NewSession => ({
    sessionId: id,
    deviceId: `dev-${id}`,
    epoch: 'gen.1',
    tokenHash: 'a'.repeat(64),
    outbound: [],
  });

  it('keeps every key of a session alive at least the key TTL after each write', async () => {
    const prefix = `ttl${++n}:`;
    const store = new RedisResumeStore({
      url: redis.url,
      keyPrefix: prefix,
      ttlMs: 10_000,
      tombstoneTtlMs: 50_000,
      instanceId: 'ttl-a',
    });
    await store.open();
    const admin = new Redis(redis.url);
    try {
      const keyTtl = 60_000;
      const s = session('s_ttl');
      await store.createSession(s);
      const ttls = async () => ({
        hash: await admin.pttl(`${prefix}{${s.sessionId}}:s`),
        list: await admin.pttl(`${prefix}{${s.sessionId}}:o`),
      });
      assert.ok((await ttls()).hash >= keyTtl - 100);
      for (let seq = 1; seq <= 2; seq++) {
        assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq, payload: json(seq) }, 10), {
          ok: true,
          seq,
        });
        const t = await ttls();
        assert.ok(t.hash >= keyTtl - 100 && t.list >= keyTtl - 100, JSON.stringify(t));
      }
      // The ack empties the list (Redis deletes it); the next append creates it again, within the
      // slack of the last refresh, and the new list still gets a TTL of its own.
      await store.saveProgress(s.sessionId, s.epoch, { acked: 2 });
      assert.equal(await admin.exists(`${prefix}{${s.sessionId}}:o`), 0);
      await store.append(s.sessionId, s.epoch, { seq: 3, payload: json(3) }, 10);
      const t = await ttls();
      assert.ok(t.hash >= keyTtl - 100 && t.list >= keyTtl - 100, JSON.stringify(t));
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('tells an append of a batch that another instance owns its session, and stores the others', async () => {
    const prefix = `own${++n}:`;
    const open = async (instanceId: string) => {
      const store = new RedisResumeStore({
        url: redis.url,
        keyPrefix: prefix,
        ttlMs: 60_000,
        tombstoneTtlMs: 60_000,
        instanceId,
      });
      await store.open();
      return store;
    };
    const [a, b] = [await open('own-a'), await open('own-b')];
    try {
      const [s1, s2] = [session('s_own_1'), { ...session('s_own_2'), epoch: 'gen.2' }];
      await a.createSession(s1);
      await a.createSession(s2);
      await b.claimSession(s2.sessionId, Date.now());
      const big = 2 ** 33;
      assert.deepEqual(
        await Promise.all([
          a.append(s1.sessionId, s1.epoch, { seq: 1, payload: json('mine') }, 10),
          a.append(s2.sessionId, s2.epoch, { seq: 1, payload: json('theirs') }, 10),
          a.append(s1.sessionId, s1.epoch, { seq: 2, payload: json('mine too') }, 10, { processed: big }),
        ]),
        [
          { ok: true, seq: 1 },
          { ok: false, reason: 'not_owner' },
          { ok: true, seq: 2 },
        ],
      );
      assert.equal((await a.getSession(s1.sessionId))?.inProcessed, big);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('writes a turn of appends that met a stalled Redis once it answers, in order, each once', async () => {
    const own = await RedisProcess.start();
    const store = new RedisResumeStore({
      url: own.url,
      ttlMs: 60_000,
      tombstoneTtlMs: 60_000,
      instanceId: 'stall-a',
      commandTimeoutMs: 200,
      probeEveryMs: 50,
    });
    try {
      await store.open();
      const [a, b] = [session('s_stall_a'), session('s_stall_b')];
      await store.createSession(a);
      await store.createSession(b);
      process.kill(own.pid!, 'SIGSTOP');
      // One turn, one batch; Redis holds it unanswered past the command timeout. The appends are
      // queued (answered ok: a live session keeps going from memory), and the late batch Redis does
      // run after it resumes must not turn into duplicates when the backlog replays them.
      const turn = await Promise.all([
        store.append(a.sessionId, a.epoch, { seq: 1, payload: json('a1') }, 10),
        store.append(b.sessionId, b.epoch, { seq: 1, payload: json('b1') }, 10),
        store.append(a.sessionId, a.epoch, { seq: 2, payload: json('a2') }, 10),
        store.saveProgress(b.sessionId, b.epoch, { processed: 5 }),
      ]);
      assert.deepEqual(turn, [{ ok: true, seq: 1 }, { ok: true, seq: 1 }, { ok: true, seq: 2 }, undefined]);
      assert.equal(store.metrics().status, 'degraded');
      assert.deepEqual(await store.append(a.sessionId, a.epoch, { seq: 3, payload: json('a3') }, 10), {
        ok: true,
        seq: 3,
      });
      assert.ok(store.metrics().pending_writes >= 5);
      process.kill(own.pid!, 'SIGCONT');
      await waitFor(() => store.metrics().status === 'ready', 'the store to catch up', 10_000);
      const [ra, rb] = await Promise.all([store.getSession(a.sessionId), store.getSession(b.sessionId)]);
      assert.deepEqual(
        ra?.outbound.map((m) => m.payload),
        [json('a1'), json('a2'), json('a3')],
      );
      assert.deepEqual(
        rb?.outbound.map((m) => m.payload),
        [json('b1')],
      );
      assert.equal(rb?.inProcessed, 5);
    } finally {
      if (own.pid) process.kill(own.pid, 'SIGCONT');
      await store.close();
      await own.destroy();
    }
  });
});
