/**
 * The embedded resume store: everything in this process's memory. It is the default (`zerodrop serve`
 * needs nothing else) and survives disconnects, not a crash of the process: after a restart its new
 * generation makes every earlier session resume as `fresh` with `epoch_mismatch`, never a wrong
 * `resumed`. Records are copied in and out, so it behaves like a remote store to its callers.
 */
import type { Payload } from '@zerodrop/protocol';
import { randomId } from '../ids.js';
import type {
  AppendOutcome,
  ExpiredSession,
  NewSession,
  ResumeStore,
  ResumeStoreMetrics,
  ResumeStoreOptions,
  SessionProgress,
  SessionRecord,
  StoredMessage,
} from './resume-store.js';

interface MutableRecord {
  sessionId: string;
  owner: string;
  claimedAt: number;
  deviceId: string;
  epoch: string;
  tokenHash: string;
  outbound: StoredMessage[];
  outAcked: number;
  inProcessed: number;
  createdAt: number;
  updatedAt: number;
}

function samePayload(a: Payload, b: Payload): boolean {
  if (a.kind === 'json') return b.kind === 'json' && a.json === b.json;
  return (
    b.kind === 'binary' && a.bytes.length === b.bytes.length && a.bytes.every((v, i) => v === b.bytes[i])
  );
}

/** Tombstones kept at most, oldest dropped first, so a flood of expiries cannot grow memory without bound. */
const MAX_TOMBSTONES = 100_000;

export class MemoryResumeStore implements ResumeStore {
  readonly kind = 'memory';
  readonly shared = false;
  readonly generation = `m${randomId(6)}`;
  readonly #ttlMs: number;
  readonly #tombstoneTtlMs: number;
  readonly #now: () => number;
  readonly #instanceId: string;
  /** Insertion order is last-activity order: every write re-inserts, so expiry scans from the front. */
  readonly #sessions = new Map<string, MutableRecord>();
  readonly #byDevice = new Map<string, string>();
  readonly #tombstones = new Map<string, number>();
  #expired = 0;

  constructor(options: ResumeStoreOptions) {
    this.#ttlMs = options.ttlMs;
    this.#tombstoneTtlMs = options.tombstoneTtlMs;
    this.#now = options.now ?? Date.now;
    this.#instanceId = options.instanceId;
  }

  async open(): Promise<void> {}

  /** The memory store lives and dies with the process: it never loses data while it runs. */
  onReset(_listener: () => void | Promise<void>): void {}

  async close(): Promise<void> {}

  async createSession(s: NewSession): Promise<void> {
    const now = this.#now();
    const rec: MutableRecord = {
      sessionId: s.sessionId,
      owner: this.#instanceId,
      claimedAt: s.claimedAt ?? now,
      deviceId: s.deviceId,
      epoch: s.epoch,
      tokenHash: s.tokenHash,
      outbound: [...s.outbound],
      outAcked: 0,
      inProcessed: 0,
      createdAt: now,
      updatedAt: now,
    };
    this.#sessions.set(s.sessionId, rec);
    this.#byDevice.set(s.deviceId, s.sessionId);
  }

  async restoreSession(r: SessionRecord): Promise<boolean> {
    const existing = this.#sessions.get(r.sessionId);
    if (existing && existing.claimedAt > r.claimedAt) return false;
    const rec: MutableRecord = { ...r, outbound: [...r.outbound], updatedAt: this.#now() };
    this.#sessions.delete(r.sessionId);
    this.#sessions.set(r.sessionId, rec);
    this.#byDevice.set(r.deviceId, r.sessionId);
    return true;
  }

  async getSession(sessionId: string): Promise<SessionRecord | null> {
    const rec = this.#live(sessionId);
    return rec ? { ...rec, outbound: [...rec.outbound] } : null;
  }

  async claimSession(sessionId: string, claimedAt: number): Promise<SessionRecord | null> {
    const rec = this.#live(sessionId);
    if (!rec) return null;
    const before = { ...rec, outbound: [...rec.outbound] };
    rec.owner = this.#instanceId;
    rec.claimedAt = claimedAt;
    this.#refresh(rec);
    return before;
  }

  async recordAffinity(): Promise<void> {}

  async isInstanceAlive(instanceId: string): Promise<boolean> {
    return instanceId === this.#instanceId;
  }

  async sessionOfDevice(deviceId: string): Promise<string | null> {
    const id = this.#byDevice.get(deviceId);
    return id !== undefined && this.#live(id) ? id : null;
  }

  async wasExpired(sessionId: string): Promise<boolean> {
    const at = this.#tombstones.get(sessionId);
    return at !== undefined && at + this.#tombstoneTtlMs > this.#now();
  }

  async deleteSession(sessionId: string): Promise<void> {
    const rec = this.#sessions.get(sessionId);
    if (!rec) return;
    this.#sessions.delete(sessionId);
    if (this.#byDevice.get(rec.deviceId) === sessionId) this.#byDevice.delete(rec.deviceId);
  }

  async append(
    sessionId: string,
    epoch: string,
    message: StoredMessage,
    maxUnacked: number,
    progress?: SessionProgress,
  ): Promise<AppendOutcome> {
    const rec = this.#live(sessionId);
    if (!rec || rec.epoch !== epoch) return { ok: false, reason: 'not_found' };
    if (progress) this.#advance(rec, progress);
    if (rec.owner !== this.#instanceId) return { ok: false, reason: 'not_owner' };
    const last = rec.outAcked + rec.outbound.length;
    if (message.seq <= last) {
      const held = rec.outbound[message.seq - rec.outAcked - 1];
      return held && samePayload(held.payload, message.payload)
        ? { ok: true, seq: message.seq }
        : { ok: false, reason: 'conflict' };
    }
    if (message.seq !== last + 1) return { ok: false, reason: 'conflict' };
    return this.#push(rec, message, maxUnacked);
  }

  async appendNext(
    sessionId: string,
    payload: Payload,
    maxUnacked: number,
    expectedOwner = '',
  ): Promise<AppendOutcome> {
    const rec = this.#live(sessionId);
    if (!rec) return { ok: false, reason: 'not_found' };
    if (rec.owner !== '' && rec.owner !== expectedOwner)
      return { ok: false, reason: 'owned', owner: rec.owner };
    return this.#push(rec, { seq: rec.outAcked + rec.outbound.length + 1, payload }, maxUnacked);
  }

  async saveProgress(sessionId: string, epoch: string, progress: SessionProgress): Promise<void> {
    const rec = this.#current(sessionId, epoch);
    if (!rec) return;
    this.#advance(rec, progress);
    this.#refresh(rec);
  }

  #advance(rec: MutableRecord, progress: SessionProgress): void {
    if (progress.acked !== undefined) {
      const to = Math.min(progress.acked, rec.outAcked + rec.outbound.length);
      if (to > rec.outAcked) {
        rec.outbound.splice(0, to - rec.outAcked);
        rec.outAcked = to;
      }
    }
    if (progress.processed !== undefined && progress.processed > rec.inProcessed) {
      rec.inProcessed = progress.processed;
    }
  }

  async rotateToken(sessionId: string, epoch: string, tokenHash: string): Promise<void> {
    const rec = this.#current(sessionId, epoch);
    if (!rec) return;
    rec.tokenHash = tokenHash;
    this.#refresh(rec);
  }

  async touch(sessionIds: readonly string[]): Promise<void> {
    for (const id of sessionIds) {
      const rec = this.#live(id);
      if (rec) this.#refresh(rec);
    }
  }

  async expire(now: number): Promise<ExpiredSession[]> {
    const out: ExpiredSession[] = [];
    for (const rec of this.#sessions.values()) {
      if (rec.updatedAt + this.#ttlMs > now) break;
      out.push(this.#bury(rec, now));
    }
    for (const [id, at] of this.#tombstones) {
      if (at + this.#tombstoneTtlMs > now && this.#tombstones.size <= MAX_TOMBSTONES) break;
      this.#tombstones.delete(id);
    }
    return out;
  }

  metrics(): ResumeStoreMetrics {
    let buffered = 0;
    for (const rec of this.#sessions.values()) buffered += rec.outbound.length;
    return {
      kind: this.kind,
      status: 'ready',
      connected: true,
      generation: this.generation,
      sessions: this.#sessions.size,
      buffered_messages: buffered,
      pending_writes: 0,
      errors: 0,
      expired_sessions: this.#expired,
      resets: 0,
      last_error: null,
      command_latency_ms: { p50: 0, p99: 0 },
    };
  }

  /** The record if it exists and has not expired (an expired one waits for `expire` to be counted and buried). */
  #live(sessionId: string): MutableRecord | undefined {
    const rec = this.#sessions.get(sessionId);
    if (!rec) return undefined;
    if (rec.updatedAt + this.#ttlMs <= this.#now()) return undefined;
    return rec;
  }

  #current(sessionId: string, epoch: string): MutableRecord | undefined {
    const rec = this.#live(sessionId);
    return rec && rec.epoch === epoch ? rec : undefined;
  }

  #push(rec: MutableRecord, message: StoredMessage, maxUnacked: number): AppendOutcome {
    if (rec.outbound.length >= maxUnacked) return { ok: false, reason: 'buffer_full' };
    rec.outbound.push(message);
    this.#refresh(rec);
    return { ok: true, seq: message.seq };
  }

  #refresh(rec: MutableRecord): void {
    rec.updatedAt = this.#now();
    this.#sessions.delete(rec.sessionId);
    this.#sessions.set(rec.sessionId, rec);
  }

  #bury(rec: MutableRecord, now: number): ExpiredSession {
    this.#sessions.delete(rec.sessionId);
    if (this.#byDevice.get(rec.deviceId) === rec.sessionId) this.#byDevice.delete(rec.deviceId);
    this.#tombstones.set(rec.sessionId, now);
    this.#expired++;
    return { sessionId: rec.sessionId, deviceId: rec.deviceId, epoch: rec.epoch, undelivered: rec.outbound };
  }
}
