/**
 * The one conformance suite every ResumeStore implementation passes (memory, Redis). It checks the
 * contract written in `store/resume-store.ts` through the public interface only, with real time for
 * TTLs (kept short) so a store whose TTL lives on a server is tested the same way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Payload } from '@zerodrop/protocol';
import type { NewSession, ResumeStore, ResumeStoreOptions } from '../store/resume-store.js';

export interface ConformanceTarget {
  /** A fresh, opened store; the suite closes it. */
  make(options: ResumeStoreOptions): Promise<ResumeStore>;
  /** For shared stores: a second store on the same data, as another instance would open it. */
  makePeer?(options: ResumeStoreOptions): Promise<ResumeStore>;
}

const OWNER = 'conformance-a';
const json = (v: unknown): Payload => ({ kind: 'json', json: JSON.stringify(v) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let counter = 0;

function newSession(deviceId = `dev-${++counter}-${Math.random().toString(36).slice(2, 8)}`): NewSession {
  return {
    sessionId: `s_conf_${++counter}_${Math.random().toString(36).slice(2, 10)}`,
    deviceId,
    epoch: `gen.${counter}`,
    tokenHash: 'a'.repeat(64),
    outbound: [],
  };
}

export function resumeStoreConformance(name: string, target: ConformanceTarget): void {
  describe(`ResumeStore conformance: ${name}`, () => {
    let store: ResumeStore;
    const TTL = 400;
    before(async () => {
      store = await target.make({ ttlMs: TTL, tombstoneTtlMs: 60_000, instanceId: 'conformance-a' });
    });
    after(async () => {
      await store.close();
    });

    it('creates a session and reads it back with nothing acked or processed', async () => {
      const s = { ...newSession(), outbound: [{ seq: 1, payload: json({ carried: true }) }] };
      await store.createSession(s);
      const rec = await store.getSession(s.sessionId);
      assert.ok(rec);
      assert.equal(rec.deviceId, s.deviceId);
      assert.equal(rec.epoch, s.epoch);
      assert.equal(rec.tokenHash, s.tokenHash);
      assert.equal(rec.outAcked, 0);
      assert.equal(rec.inProcessed, 0);
      assert.deepEqual(rec.outbound, s.outbound);
      assert.equal(await store.sessionOfDevice(s.deviceId), s.sessionId);
    });

    it('answers null for a session or device it never saw', async () => {
      assert.equal(await store.getSession('s_never'), null);
      assert.equal(await store.sessionOfDevice('never-device'), null);
      assert.equal(await store.wasExpired('s_never'), false);
    });

    it('keeps JSON and binary payloads byte for byte', async () => {
      const s = newSession();
      await store.createSession(s);
      const bytes = new Uint8Array([0, 1, 2, 254, 255, 10, 13]);
      assert.deepEqual(
        await store.append(s.sessionId, s.epoch, { seq: 1, payload: json({ a: 'é', n: 1 }) }, 10),
        { ok: true, seq: 1 },
      );
      assert.deepEqual(
        await store.append(s.sessionId, s.epoch, { seq: 2, payload: { kind: 'binary', bytes } }, 10),
        { ok: true, seq: 2 },
      );
      const rec = await store.getSession(s.sessionId);
      const first = rec?.outbound[0]?.payload;
      assert.ok(first?.kind === 'json');
      assert.deepEqual(JSON.parse(first.json), { a: 'é', n: 1 });
      const got = rec?.outbound[1]?.payload;
      assert.equal(got?.kind, 'binary');
      assert.deepEqual(Array.from((got as { bytes: Uint8Array }).bytes), Array.from(bytes));
    });

    it('appends only the next sequence number, for the current epoch', async () => {
      const s = newSession();
      await store.createSession(s);
      assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 2, payload: json(2) }, 10), {
        ok: false,
        reason: 'conflict',
      });
      assert.deepEqual(await store.append(s.sessionId, 'other.epoch', { seq: 1, payload: json(1) }, 10), {
        ok: false,
        reason: 'not_found',
      });
      assert.deepEqual(await store.append('s_missing', s.epoch, { seq: 1, payload: json(1) }, 10), {
        ok: false,
        reason: 'not_found',
      });
      assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 1, payload: json(1) }, 10), {
        ok: true,
        seq: 1,
      });
      assert.equal((await store.getSession(s.sessionId))?.outbound.length, 1);
    });

    it('refuses an append beyond the bound and evicts nothing', async () => {
      const s = newSession();
      await store.createSession(s);
      for (let seq = 1; seq <= 3; seq++) {
        assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq, payload: json(seq) }, 3), {
          ok: true,
          seq,
        });
      }
      assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 4, payload: json(4) }, 3), {
        ok: false,
        reason: 'buffer_full',
      });
      assert.deepEqual(await store.appendNext(s.sessionId, json(4), 3, OWNER), {
        ok: false,
        reason: 'buffer_full',
      });
      const rec = await store.getSession(s.sessionId);
      assert.deepEqual(
        rec?.outbound.map((m) => m.seq),
        [1, 2, 3],
      );
      await store.saveProgress(s.sessionId, s.epoch, { acked: 1 });
      assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 4, payload: json(4) }, 3), {
        ok: true,
        seq: 4,
      });
    });

    it('appendNext assigns the next sequence number after acked and held messages', async () => {
      const s = newSession();
      await store.createSession(s);
      await store.append(s.sessionId, s.epoch, { seq: 1, payload: json(1) }, 10);
      await store.append(s.sessionId, s.epoch, { seq: 2, payload: json(2) }, 10);
      await store.saveProgress(s.sessionId, s.epoch, { acked: 2 });
      assert.deepEqual(await store.appendNext(s.sessionId, json(3), 10, OWNER), { ok: true, seq: 3 });
      assert.deepEqual(await store.appendNext('s_missing', json(1), 10), { ok: false, reason: 'not_found' });
    });

    it('knows the owner: appendNext names it instead of numbering behind its back', async () => {
      const s = newSession();
      await store.createSession(s);
      assert.equal((await store.getSession(s.sessionId))?.owner, OWNER);
      assert.deepEqual(await store.appendNext(s.sessionId, json(1), 10), {
        ok: false,
        reason: 'owned',
        owner: OWNER,
      });
      assert.deepEqual(await store.appendNext(s.sessionId, json(1), 10, OWNER), { ok: true, seq: 1 });
      assert.equal(await store.isInstanceAlive(OWNER), true);
    });

    it('claims a session atomically with the read and returns it as it was before the claim', async () => {
      const s = { ...newSession(), outbound: [{ seq: 1, payload: json('held') }] };
      await store.createSession(s);
      const before = await store.claimSession(s.sessionId, Date.now());
      assert.equal(before?.owner, OWNER);
      assert.deepEqual(before?.outbound, s.outbound);
      assert.equal(await store.claimSession('s_missing', Date.now()), null);
    });

    it('writes a whole session back, but never over a newer claim', async () => {
      const s = newSession();
      await store.createSession(s);
      const rec = (await store.getSession(s.sessionId))!;
      const back = {
        ...rec,
        outAcked: 4,
        inProcessed: 7,
        outbound: [{ seq: 5, payload: json(5) }],
        claimedAt: rec.claimedAt + 1,
      };
      assert.equal(await store.restoreSession(back), true);
      const got = await store.getSession(s.sessionId);
      assert.equal(got?.outAcked, 4);
      assert.equal(got?.inProcessed, 7);
      assert.deepEqual(got?.outbound, back.outbound);
      assert.equal(await store.sessionOfDevice(s.deviceId), s.sessionId);
      assert.equal(
        await store.restoreSession({ ...back, claimedAt: rec.claimedAt - 1000, inProcessed: 1 }),
        false,
      );
      assert.equal((await store.getSession(s.sessionId))?.inProcessed, 7);
      const gone = { ...back, sessionId: `${s.sessionId}-lost`, deviceId: `${s.deviceId}-lost` };
      assert.equal(await store.restoreSession(gone), true, 'a session the store lost is written back');
      assert.deepEqual((await store.getSession(gone.sessionId))?.outbound, back.outbound);
    });

    it('keeps many concurrent appends in order', async () => {
      const s = newSession();
      await store.createSession(s);
      // More than one batch's worth in one turn (a store may split them): still in order.
      const results = await Promise.all(
        Array.from({ length: 450 }, (_, i) =>
          store.append(s.sessionId, s.epoch, { seq: i + 1, payload: json(i + 1) }, 500),
        ),
      );
      assert.ok(results.every((r) => r.ok));
      const rec = await store.getSession(s.sessionId);
      assert.deepEqual(
        rec?.outbound.map((m) => m.seq),
        Array.from({ length: 450 }, (_, i) => i + 1),
      );
    });

    it('keeps a turn of large appends whole and in order, across sessions', async () => {
      const [a, b] = [newSession(), newSession()];
      for (const x of [a, b]) await store.createSession(x);
      // About 3.6 MB in one turn, one append of 1.5 MB among them: a store that bounds its batches by
      // size must split them without losing, cutting or reordering any.
      const sizes = [300_000, 1_500_000, 200_000, 400_000, 250_000, 300_000, 350_000, 300_000];
      const payload = (size: number, n: number): Payload => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i++) bytes[i] = (i * 31 + n) & 0xff;
        return { kind: 'binary', bytes };
      };
      const results = await Promise.all(
        sizes.map((size, i) => {
          const s = i % 2 === 0 ? a : b;
          const seq = Math.floor(i / 2) + 1;
          return store.append(s.sessionId, s.epoch, { seq, payload: payload(size, i) }, 10);
        }),
      );
      assert.deepEqual(
        results,
        sizes.map((_, i) => ({ ok: true, seq: Math.floor(i / 2) + 1 })),
      );
      const [ra, rb] = await Promise.all([a, b].map((x) => store.getSession(x.sessionId)));
      assert.deepEqual(
        ra?.outbound.map((m) => m.payload),
        sizes.flatMap((size, i) => (i % 2 === 0 ? [payload(size, i)] : [])),
      );
      assert.deepEqual(
        rb?.outbound.map((m) => m.payload),
        sizes.flatMap((size, i) => (i % 2 === 1 ? [payload(size, i)] : [])),
      );
    });

    it('answers each append issued in the same turn on its own, across sessions', async () => {
      const [a, b, c] = [newSession(), newSession(), newSession()];
      const bytes: Payload = { kind: 'binary', bytes: new Uint8Array([0, 255, 0x7c, 58, 13, 10, 0]) };
      const wide = json({ text: 'ours: teddy 🧸, ünïcode, {braces}: and | bars', n: 2 ** 40 });
      for (const x of [a, b, c]) await store.createSession(x);
      await store.append(b.sessionId, b.epoch, { seq: 1, payload: json('b1') }, 1);
      // One turn: what one store may send as a single batch must still answer per append.
      const results = await Promise.all([
        store.append(a.sessionId, a.epoch, { seq: 1, payload: json('a1') }, 5),
        store.append(b.sessionId, b.epoch, { seq: 2, payload: json('b2') }, 1),
        store.append(c.sessionId, 'stale.epoch', { seq: 1, payload: json('c1') }, 5),
        store.append(a.sessionId, a.epoch, { seq: 3, payload: json('a3') }, 5),
        store.append(a.sessionId, a.epoch, { seq: 2, payload: json('a2') }, 5, { processed: 4 }),
        store.append(b.sessionId, b.epoch, { seq: 2, payload: json('b2') }, 1, { acked: 1 }),
        store.append('s_never', 'gen.0', { seq: 1, payload: json('x') }, 5),
        store.saveProgress(c.sessionId, c.epoch, { processed: 3 }),
        store.saveProgress(c.sessionId, 'stale.epoch', { processed: 9 }),
        store.append(c.sessionId, c.epoch, { seq: 1, payload: bytes }, 5),
        store.append(c.sessionId, c.epoch, { seq: 2, payload: wide }, 5),
      ]);
      assert.deepEqual(results.slice(0, 7), [
        { ok: true, seq: 1 },
        { ok: false, reason: 'buffer_full' },
        { ok: false, reason: 'not_found' },
        { ok: false, reason: 'conflict' },
        { ok: true, seq: 2 },
        { ok: true, seq: 2 },
        { ok: false, reason: 'not_found' },
      ]);
      const [ra, rb, rc] = await Promise.all([a, b, c].map((x) => store.getSession(x.sessionId)));
      assert.deepEqual(
        ra?.outbound.map((m) => m.payload),
        [json('a1'), json('a2')],
      );
      assert.equal(ra?.inProcessed, 4);
      assert.equal(rb?.outAcked, 1);
      assert.deepEqual(
        rb?.outbound.map((m) => m.payload),
        [json('b2')],
      );
      assert.deepEqual(results.slice(9), [
        { ok: true, seq: 1 },
        { ok: true, seq: 2 },
      ]);
      assert.deepEqual(
        rc?.outbound.map((m) => m.payload),
        [bytes, wide],
      );
      assert.equal(rc?.inProcessed, 3);
    });

    it('trims on ack, ignores stale acks and caps an ack at the last message', async () => {
      const s = newSession();
      await store.createSession(s);
      for (let seq = 1; seq <= 5; seq++)
        await store.append(s.sessionId, s.epoch, { seq, payload: json(seq) }, 10);
      await store.saveProgress(s.sessionId, s.epoch, { acked: 3 });
      await store.saveProgress(s.sessionId, s.epoch, { acked: 2 });
      let rec = await store.getSession(s.sessionId);
      assert.equal(rec?.outAcked, 3);
      assert.deepEqual(
        rec?.outbound.map((m) => m.seq),
        [4, 5],
      );
      await store.saveProgress(s.sessionId, 'stale.epoch', { acked: 5 });
      assert.equal((await store.getSession(s.sessionId))?.outAcked, 3);
      await store.saveProgress(s.sessionId, s.epoch, { acked: 99 });
      rec = await store.getSession(s.sessionId);
      assert.equal(rec?.outAcked, 5);
      assert.deepEqual(rec?.outbound, []);
    });

    it('records the processed device sequence monotonically', async () => {
      const s = newSession();
      await store.createSession(s);
      await store.saveProgress(s.sessionId, s.epoch, { processed: 4 });
      await store.saveProgress(s.sessionId, s.epoch, { processed: 2 });
      await store.saveProgress(s.sessionId, 'stale.epoch', { processed: 9 });
      assert.equal((await store.getSession(s.sessionId))?.inProcessed, 4);
    });

    it('saves the ack and the processed sequence in one write, each only forward', async () => {
      const s = newSession();
      await store.createSession(s);
      for (let seq = 1; seq <= 3; seq++)
        await store.append(s.sessionId, s.epoch, { seq, payload: json(seq) }, 10);
      await store.saveProgress(s.sessionId, s.epoch, { acked: 2, processed: 7 });
      await store.saveProgress(s.sessionId, s.epoch, { acked: 1, processed: 5 });
      const rec = await store.getSession(s.sessionId);
      assert.equal(rec?.outAcked, 2);
      assert.equal(rec?.inProcessed, 7);
      assert.deepEqual(
        rec?.outbound.map((m) => m.seq),
        [3],
      );
    });

    it('an append saves the progress it carries, also when the append itself is refused', async () => {
      const s = newSession();
      await store.createSession(s);
      for (let seq = 1; seq <= 2; seq++)
        await store.append(s.sessionId, s.epoch, { seq, payload: json(seq) }, 2);
      assert.deepEqual(
        await store.append(s.sessionId, s.epoch, { seq: 3, payload: json(3) }, 2, { acked: 1, processed: 4 }),
        { ok: true, seq: 3 },
        'the ack frees room in the same write, before the bound is checked',
      );
      assert.deepEqual(
        await store.append(s.sessionId, s.epoch, { seq: 4, payload: json(4) }, 2, { processed: 6 }),
        { ok: false, reason: 'buffer_full' },
      );
      await store.append(s.sessionId, 'stale.epoch', { seq: 4, payload: json(4) }, 2, {
        acked: 3,
        processed: 9,
      });
      const rec = await store.getSession(s.sessionId);
      assert.equal(rec?.outAcked, 1);
      assert.equal(rec?.inProcessed, 6);
      assert.deepEqual(
        rec?.outbound.map((m) => m.seq),
        [2, 3],
      );
    });

    it('rotates the token hash for the current epoch only', async () => {
      const s = newSession();
      await store.createSession(s);
      await store.rotateToken(s.sessionId, s.epoch, 'b'.repeat(64));
      await store.rotateToken(s.sessionId, 'stale.epoch', 'c'.repeat(64));
      assert.equal((await store.getSession(s.sessionId))?.tokenHash, 'b'.repeat(64));
    });

    it('points a device at its newest session and forgets deleted ones', async () => {
      const first = newSession();
      const second = { ...newSession(first.deviceId) };
      await store.createSession(first);
      await store.createSession(second);
      assert.equal(await store.sessionOfDevice(first.deviceId), second.sessionId);
      await store.deleteSession(first.sessionId);
      assert.equal(await store.getSession(first.sessionId), null);
      assert.equal(await store.sessionOfDevice(first.deviceId), second.sessionId);
      await store.deleteSession(second.sessionId);
      assert.equal(await store.sessionOfDevice(first.deviceId), null);
      assert.equal(await store.wasExpired(second.sessionId), false, 'a deleted session did not expire');
    });

    it('expires an idle session with its undelivered messages and leaves a tombstone', async () => {
      const idle = newSession();
      const busy = newSession();
      await store.createSession(idle);
      await store.createSession(busy);
      await store.append(idle.sessionId, idle.epoch, { seq: 1, payload: json('lost?') }, 10);
      await store.append(idle.sessionId, idle.epoch, { seq: 2, payload: json('lost too?') }, 10);
      const deadline = Date.now() + TTL * 2.5;
      let expired: Awaited<ReturnType<ResumeStore['expire']>> = [];
      while (Date.now() < deadline && !expired.some((e) => e.sessionId === idle.sessionId)) {
        await store.touch([busy.sessionId]);
        await sleep(50);
        expired = expired.concat(await store.expire(Date.now()));
      }
      const mine = expired.find((e) => e.sessionId === idle.sessionId);
      assert.ok(mine, 'the idle session expired');
      assert.equal(mine.deviceId, idle.deviceId);
      assert.deepEqual(
        mine.undelivered.map((m) => m.seq),
        [1, 2],
      );
      assert.ok(!expired.some((e) => e.sessionId === busy.sessionId), 'a touched session stays');
      assert.equal(await store.getSession(idle.sessionId), null);
      assert.equal(await store.wasExpired(idle.sessionId), true);
      assert.equal(await store.sessionOfDevice(idle.deviceId), null);
      assert.ok(await store.getSession(busy.sessionId));
      const again = await store.expire(Date.now());
      assert.ok(!again.some((e) => e.sessionId === idle.sessionId), 'an expired session is reported once');
    });

    const makePeer = target.makePeer;
    if (makePeer)
      it('a shared store lets one instance take a session over from another', async () => {
        const peer = await makePeer({ ttlMs: TTL, tombstoneTtlMs: 60_000, instanceId: 'conformance-b' });
        try {
          const s = newSession();
          await store.createSession(s);
          assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 1, payload: json(1) }, 10), {
            ok: true,
            seq: 1,
          });
          const taken = await peer.claimSession(s.sessionId, Date.now());
          assert.equal(taken?.owner, OWNER);
          assert.deepEqual(await store.append(s.sessionId, s.epoch, { seq: 2, payload: json(2) }, 10), {
            ok: false,
            reason: 'not_owner',
          });
          assert.deepEqual(await peer.append(s.sessionId, s.epoch, { seq: 2, payload: json('two') }, 10), {
            ok: true,
            seq: 2,
          });
          assert.deepEqual(await store.appendNext(s.sessionId, json(3), 10), {
            ok: false,
            reason: 'owned',
            owner: 'conformance-b',
          });
          assert.equal(await store.isInstanceAlive('conformance-b'), true);
          assert.equal(await store.isInstanceAlive('conformance-gone'), false);
        } finally {
          await peer.close();
        }
      });

    it('names its generation and reports metrics', async () => {
      assert.equal(typeof store.generation, 'string');
      assert.ok(store.generation.length > 0);
      assert.ok(!store.generation.includes('.'), 'the generation never contains the epoch separator');
      const deadline = Date.now() + 3000;
      while (store.metrics().sessions < 1 && Date.now() < deadline) await sleep(20);
      const m = store.metrics();
      assert.equal(m.kind, store.kind);
      assert.ok(m.sessions >= 1, 'counts its sessions');
      assert.ok(['ready', 'degraded', 'unavailable'].includes(m.status));
    });
  });
}
