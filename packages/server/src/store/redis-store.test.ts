import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Payload } from '@zerodrop/protocol';
import { Redis, ReplyError } from 'ioredis';
import { waitFor } from '../test-support/harness.js';
import { RedisProcess } from '../test-support/processes.js';
import { resumeStoreConformance } from '../test-support/store-conformance.js';
import { RedisResumeStore, type RedisResumeStoreOptions } from './redis-store.js';
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

/**
 * A loopback proxy in front of Redis that can swallow traffic both ways (requests never reach Redis,
 * so nothing they ask for is applied) and cut its connections: a network that drops, then breaks.
 */
async function blackholeProxy(redisPort: number) {
  let swallowing = false;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = createConnection({ port: redisPort, host: '127.0.0.1' });
    for (const s of [inbound, outbound]) sockets.add(s);
    inbound.on('data', (d) => swallowing || outbound.write(d));
    outbound.on('data', (d) => swallowing || inbound.write(d));
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    for (const s of [inbound, outbound]) s.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
    swallow(on: boolean) {
      swallowing = on;
    },
    cut() {
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const nextPass = () => new Promise((resolve) => setImmediate(resolve));

describe('Redis store', () => {
  const json = (v: unknown): Payload => ({ kind: 'json', json: JSON.stringify(v) });
  const session = (id: string): NewSession => ({
    sessionId: id,
    deviceId: `dev-${id}`,
    epoch: 'gen.1',
    tokenHash: 'a'.repeat(64),
    outbound: [],
  });

  /** An opened store, by default on the shared test Redis under a prefix of its own. */
  async function openStore(instanceId: string, options: Partial<RedisResumeStoreOptions> = {}) {
    const store = new RedisResumeStore({
      url: redis.url,
      keyPrefix: `${instanceId}${++n}:`,
      ttlMs: 60_000,
      tombstoneTtlMs: 60_000,
      instanceId,
      ...options,
    });
    await store.open();
    return store;
  }

  it('keeps every key of a session alive at least the key TTL after each write', async () => {
    const prefix = `ttl${++n}:`;
    const store = await openStore('ttl-a', { keyPrefix: prefix, ttlMs: 10_000, tombstoneTtlMs: 50_000 });
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
      // The same within one batch: the ack empties the list and the next write of the same session
      // creates it again, both sharing one read and one write of the session's hash.
      const [acked, appended] = await Promise.all([
        store.saveProgress(s.sessionId, s.epoch, { acked: 3 }),
        store.append(s.sessionId, s.epoch, { seq: 4, payload: json(4) }, 10, { processed: 9 }),
      ]);
      assert.equal(acked, undefined);
      assert.deepEqual(appended, { ok: true, seq: 4 });
      const batched = await ttls();
      assert.ok(batched.hash >= keyTtl - 100 && batched.list >= keyTtl - 100, JSON.stringify(batched));
      const rec = await store.getSession(s.sessionId);
      assert.deepEqual([rec?.outAcked, rec?.inProcessed, rec?.outbound.map((m) => m.seq)], [3, 9, [4]]);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('tells an append of a batch that another instance owns its session, and stores the others', async () => {
    const keyPrefix = `own${++n}:`;
    const [a, b] = [await openStore('own-a', { keyPrefix }), await openStore('own-b', { keyPrefix })];
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

  /** A store on its own Redis behind a proxy that can drop the connection. */
  async function storeBehindProxy() {
    const own = await RedisProcess.start();
    const proxy = await blackholeProxy(Number(new URL(own.url).port));
    const store = await openStore('drop-a', {
      url: proxy.url,
      commandTimeoutMs: 60_000,
      probeEveryMs: 50,
      redis: { retryStrategy: () => 50 },
    });
    const [s, t] = [session('s_drop_s'), session('s_drop_t')];
    await store.createSession(s);
    await store.createSession(t);
    const outbound = async (id: string) => (await store.getSession(id))?.outbound.map((m) => m.payload);
    const cleanup = async () => {
      await store.close();
      await proxy.close();
      await own.destroy();
    };
    return { store, proxy, s, t, outbound, cleanup };
  }

  it('puts every write lost with the connection back in the order it was sent, single and batched', async () => {
    const { store, proxy, s, t, outbound, cleanup } = await storeBehindProxy();
    try {
      proxy.swallow(true);
      // Sent alone in its pass, then two in the next pass as one batch; none reaches Redis.
      const first = store.append(s.sessionId, s.epoch, { seq: 1, payload: json('s1') }, 10);
      await nextPass();
      await nextPass();
      const second = store.append(s.sessionId, s.epoch, { seq: 2, payload: json('s2') }, 10);
      const other = store.append(t.sessionId, t.epoch, { seq: 1, payload: json('t1') }, 10);
      await nextPass();
      await nextPass();
      proxy.cut();
      proxy.swallow(false);
      assert.deepEqual(await Promise.all([first, second, other]), [
        { ok: true, seq: 1 },
        { ok: true, seq: 2 },
        { ok: true, seq: 1 },
      ]);
      await waitFor(() => store.metrics().status === 'ready', 'the store to replay its backlog', 10_000);
      assert.deepEqual(await outbound(s.sessionId), [json('s1'), json('s2')]);
      assert.deepEqual(await outbound(t.sessionId), [json('t1')]);
    } finally {
      await cleanup();
    }
  });

  it('keeps the writes of a pass ahead of those issued after Redis went away in the same pass', async () => {
    const { store, s, outbound, cleanup } = await storeBehindProxy();
    try {
      assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 1, payload: json('m1') }, 10), {
        ok: true,
        seq: 1,
      });
      const waiting = store.append(s.sessionId, s.epoch, { seq: 2, payload: json('m2') }, 10);
      // What ioredis emits when its connection drops, here between two writes of one pass.
      store.client.emit('close');
      const after = store.append(s.sessionId, s.epoch, { seq: 3, payload: json('m3') }, 10);
      assert.deepEqual(await Promise.all([waiting, after]), [
        { ok: true, seq: 2 },
        { ok: true, seq: 3 },
      ]);
      await waitFor(() => store.metrics().status === 'ready', 'the store to replay its backlog', 10_000);
      assert.deepEqual(await outbound(s.sessionId), [json('m1'), json('m2'), json('m3')]);
    } finally {
      await cleanup();
    }
  });

  it('sends a write larger than a call may carry in a call of its own, the others around it batched', async () => {
    const store = await openStore('big-a', { keyPrefix: `big${++n}:` });
    const admin = new Redis(redis.url);
    const scriptCalls = async () => {
      const stats = await admin.info('commandstats');
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    };
    try {
      const [s, warm] = [session('s_big'), session('s_big_warm')];
      await store.createSession(s);
      await store.createSession(warm);
      // Both scripts loaded first (a first call may go as EVAL), a batch and a single write.
      await Promise.all(
        [1, 2].map((seq) => store.append(warm.sessionId, warm.epoch, { seq, payload: json(seq) }, 10)),
      );
      await store.append(warm.sessionId, warm.epoch, { seq: 3, payload: json(3) }, 10);
      const big: Payload = { kind: 'binary', bytes: new Uint8Array(1_500_000).fill(7) };
      const before = await scriptCalls();
      const payloads = [json(1), json(2), json(3), big, json(5), json(6)];
      const results = await Promise.all(
        payloads.map((payload, i) => store.append(s.sessionId, s.epoch, { seq: i + 1, payload }, 10)),
      );
      // Three calls: the three before it, the large one alone, the two after it.
      assert.equal((await scriptCalls()) - before, 3);
      assert.deepEqual(
        results,
        payloads.map((_, i) => ({ ok: true, seq: i + 1 })),
      );
      assert.deepEqual(
        (await store.getSession(s.sessionId))?.outbound.map((m) => m.payload),
        payloads,
      );
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('fails only the write of a batch that raised an error, and runs the others', async () => {
    const prefix = `err${++n}:`;
    const store = await openStore('err-a', { keyPrefix: prefix });
    const admin = new Redis(redis.url);
    try {
      const [s, t] = [session('s_err_s'), session('s_err_t')];
      await store.createSession(s);
      await store.createSession(t);
      await admin.hdel(`${prefix}{${t.sessionId}}:s`, 'acked'); // a damaged session
      const [ok, failed] = await Promise.allSettled([
        store.append(s.sessionId, s.epoch, { seq: 1, payload: json('fine') }, 10),
        store.append(t.sessionId, t.epoch, { seq: 1, payload: json('broken') }, 10),
      ]);
      assert.deepEqual(ok, { status: 'fulfilled', value: { ok: true, seq: 1 } });
      assert.equal(failed.status, 'rejected');
      assert.ok(failed.reason instanceof ReplyError, String(failed.reason));
      assert.deepEqual(
        (await store.getSession(s.sessionId))?.outbound.map((m) => m.payload),
        [json('fine')],
      );
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('writes a turn of appends that met a stalled Redis once it answers, in order, each once', async () => {
    const own = await RedisProcess.start();
    const store = await openStore('stall-a', { url: own.url, commandTimeoutMs: 200, probeEveryMs: 50 }).catch(
      async (err: unknown) => {
        await own.destroy();
        throw err;
      },
    );
    try {
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
