/**
 * The Redis resume store (`REDIS_URL`): sessions survive an instance crash and move between
 * instances. Every key of a session shares the hash tag `{<session id>}`; what must be atomic runs in
 * the Lua scripts beside this file. The connection is corked from the first command of a turn to the
 * end of it, so every session's commands of that turn leave in one write; ioredis's auto-pipelining,
 * which does the same with a pipeline object per turn, measured slower with `npm run bench`
 * (docs/PERFORMANCE.md). The appends of live sessions issued in one turn go further: one script call
 * for all of them (append-batch.lua), which touches many sessions' keys at once and so needs one
 * Redis, not a Cluster.
 *
 * Keys (prefix `zd:` by default):
 *   <p>{<sid>}:s      hash: device, epoch, token (hash), acked, processed, created, updated, owner,
 *                     claimed
 *   <p>{<sid>}:o      list: unacknowledged server→device payloads, oldest first (seq = acked + index + 1)
 *   <p>{<sid>}:t      tombstone of an expired session (kept `tombstoneTtl`)
 *   <p>dev:{<device>} the device's current session id
 *   <p>expiry         sorted set: session id → earliest time it may expire (re-checked by bury.lua)
 *   <p>generation     this Redis's incarnation; its disappearance means Redis lost its data
 *
 * Expiry is decided by the `updated` field, which every write refreshes inside its script; the
 * sorted set only says where to look. Redis key TTLs (TTL + tombstone TTL) are a leak guard, long
 * enough that the sweep always buries a session (and counts its messages) before Redis drops it;
 * after every write a session's keys live at least that long (lib.lua), without a PEXPIRE per append.
 */
import { readFileSync } from 'node:fs';
import { createError, Errors, type Payload } from '@zerodrop/protocol';
import { Redis, type RedisOptions, ReplyError } from 'ioredis';
import { randomId } from '../ids.js';
import { RttWindow } from '../rtt-window.js';
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

const script = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

interface Scripts {
  zdWriteSession(hash: string, list: string, ...args: (string | Buffer | number)[]): Promise<number>;
  zdGetBuffer(
    hash: string,
    list: string,
    owner: string,
    now: number,
    keyTtl: number,
  ): Promise<Buffer[] | null>;
  zdAppend(
    hash: string,
    list: string,
    ...args: (string | Buffer | number)[]
  ): Promise<[number, string | number, string?]>;
  /** No keys (the script builds them from the prefix): now, key TTL, owner, prefix, the packed writes. */
  zdAppendBatch(
    numKeys: 0,
    now: number,
    keyTtlMs: number,
    owner: string,
    prefix: string,
    packed: Buffer,
  ): Promise<(number | string)[]>;
  zdUpdate(hash: string, list: string, ...args: (string | number)[]): Promise<number>;
  zdBuryBuffer(
    hash: string,
    list: string,
    tomb: string,
    ...args: (string | number)[]
  ): Promise<Buffer[] | null>;
  zdUnlinkDevice(deviceKey: string, sessionId: string): Promise<number>;
}

type ScriptedRedis = Redis & Scripts;

/** Backlog writes replayed per pipelined batch after an outage. */
const FLUSH_BATCH = 500;
/** Most writes in one append-batch.lua call: bounds how long one script holds Redis (about 2 ms). */
const TURN_BATCH = 200;
/** Most bytes of packed writes in one call (a larger write goes in a call of its own). */
const TURN_BATCH_BYTES = 1024 * 1024;

/**
 * A write of a live session: an append (with the progress it carries, if any), or a progress save on
 * its own (`seq` 0, no payload).
 */
interface SessionWrite {
  readonly sessionId: string;
  readonly epoch: string;
  readonly seq: number;
  readonly payload: Payload | undefined;
  readonly max: number;
  readonly progress: SessionProgress | undefined;
}

/**
 * A write sent straight to Redis and not answered yet. They are kept in the order they were sent:
 * when the connection is lost, every one still unanswered goes back to the front of the backlog in
 * that order, whatever order their failures are reported in.
 */
interface InFlightWrite {
  /** A session write of a batch: its replay and its queued answer are made only if it is lost. */
  readonly write?: SessionWrite;
  /** Any other write: how to replay it, and its answer while it waits in the backlog. */
  readonly op?: () => Promise<unknown>;
  readonly queued?: unknown;
  // Method syntax: a TurnWrite's resolve takes an AppendOutcome, which is what #failed hands it.
  resolve(value: unknown): void;
  reject(err: unknown): void;
  settled: boolean;
}

/**
 * A write waiting for the end of its turn, to leave with the turn's others; once sent, it is its own
 * in-flight entry. One object per write, made once: at message rates, every allocation on this path
 * shows up in the gateway's garbage collection.
 */
class TurnWrite implements SessionWrite, InFlightWrite {
  settled = false;
  constructor(
    readonly sessionId: string,
    readonly epoch: string,
    readonly seq: number,
    readonly payload: Payload | undefined,
    readonly max: number,
    readonly progress: SessionProgress | undefined,
    readonly resolve: (outcome: AppendOutcome) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  get write(): SessionWrite {
    return this;
  }
}

const JSON_TAG = 0x6a; // 'j'
const BINARY_TAG = 0x62; // 'b'

export function encodePayload(p: Payload): Buffer {
  if (p.kind === 'json') {
    const body = Buffer.from(p.json, 'utf8');
    const out = Buffer.allocUnsafe(body.length + 1);
    out[0] = JSON_TAG;
    body.copy(out, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(p.bytes.length + 1);
  out[0] = BINARY_TAG;
  out.set(p.bytes, 1);
  return out;
}

export function decodePayload(b: Buffer): Payload {
  if (b[0] === JSON_TAG) return { kind: 'json', json: b.toString('utf8', 1) };
  return { kind: 'binary', bytes: new Uint8Array(b.subarray(1)) };
}

/** The fixed-size fields of a packed write: kind, two length prefixes, seq, max, acked, processed, payload length. */
const PACKED_FIXED_BYTES = 1 + 2 + 2 + 8 + 4 + 8 + 8 + 4;

/**
 * The writes of a batch as the one argument append-batch.lua reads with
 * `struct.unpack('>c1Hc0Hc0dIddIc0', blob, pos)`, one after the other: kind ('a' append, 'p'
 * progress), session id, epoch, seq, max unacked, acked and processed (-1: none), the payload as
 * stored (encodePayload; empty for 'p'). One buffer for the whole batch: ioredis frames each argument
 * on its own, and a batch holds up to TURN_BATCH writes. `size` is the sum of their packedSize.
 */
function packTurnWrites(writes: readonly SessionWrite[], size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < writes.length; i++) at = packInto(out, at, writes[i]!);
  return out;
}

function packedSize(w: SessionWrite): number {
  const p = w.payload;
  const payloadBytes =
    p === undefined ? 0 : 1 + (p.kind === 'json' ? Buffer.byteLength(p.json) : p.bytes.length);
  return PACKED_FIXED_BYTES + Buffer.byteLength(w.sessionId) + Buffer.byteLength(w.epoch) + payloadBytes;
}

function packInto(out: Buffer, start: number, w: SessionWrite): number {
  const p = w.payload;
  out[start] = p === undefined ? 0x70 : 0x61; // 'p' | 'a'
  let at = start + 3;
  const sidBytes = out.write(w.sessionId, at);
  out.writeUInt16BE(sidBytes, start + 1);
  at += sidBytes;
  const epochBytes = out.write(w.epoch, at + 2);
  out.writeUInt16BE(epochBytes, at);
  at += 2 + epochBytes;
  at = out.writeDoubleBE(w.seq, at);
  at = out.writeUInt32BE(w.max, at);
  at = out.writeDoubleBE(w.progress?.acked ?? -1, at);
  at = out.writeDoubleBE(w.progress?.processed ?? -1, at);
  if (p === undefined) return out.writeUInt32BE(0, at);
  const lengthAt = at;
  at += 4;
  if (p.kind === 'json') {
    out[at] = JSON_TAG;
    at += 1 + out.write(p.json, at + 1);
  } else {
    out[at] = BINARY_TAG;
    out.set(p.bytes, at + 1);
    at += 1 + p.bytes.length;
  }
  out.writeUInt32BE(at - lengthAt - 4, lengthAt);
  return at;
}

/** An append's answer in a batch: its seq when it was stored, else `reason` or `reason:owner`. */
function batchOutcome(r: number | string): AppendOutcome {
  if (typeof r === 'number') return { ok: true, seq: r };
  const colon = r.indexOf(':');
  return colon < 0 ? appendOutcome(0, r, '') : appendOutcome(0, r.slice(0, colon), r.slice(colon + 1));
}

/** An append script's answer: ok and the seq, or the reason it was refused (and the owner). */
function appendOutcome(
  ok: number | string,
  value: number | string,
  holder: number | string | undefined,
): AppendOutcome {
  if (Number(ok) === 1) return { ok: true, seq: Number(value) };
  if (value === 'owned') return { ok: false, reason: 'owned', owner: String(holder) };
  return { ok: false, reason: String(value) as 'buffer_full' | 'not_found' | 'conflict' | 'not_owner' };
}

export interface RedisResumeStoreOptions extends ResumeStoreOptions {
  url: string;
  keyPrefix?: string;
  /** Extra ioredis options (tests tune reconnection). */
  redis?: RedisOptions;
  /** How often the store checks Redis still holds its data and counts sessions. */
  probeEveryMs?: number;
  /** Writes kept in order in memory while Redis is unreachable (default 100,000). */
  maxBacklog?: number;
  /** A command unanswered this long counts as a lost connection (default 2 s). */
  commandTimeoutMs?: number;
}

export class RedisResumeStore implements ResumeStore {
  readonly kind = 'redis';
  readonly shared = true;
  #generation = '';
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #tombstoneTtlMs: number;
  readonly #keyTtlMs: number;
  readonly #now: () => number;
  readonly #latency = new RttWindow(512);
  #errors = 0;
  #lastError: string | null = null;
  #expired = 0;
  #pending = 0;
  #sessions = 0;
  #probeTimer: NodeJS.Timeout | undefined;
  readonly #resetListeners: (() => void | Promise<void>)[] = [];
  readonly #maxBacklog: number;
  /** Writes that could not reach Redis, oldest first; replayed in order when it answers again. */
  readonly #backlog: (() => Promise<unknown>)[] = [];
  /** Writes sent straight to Redis, unanswered, oldest first (from `#inFlightHead` on). */
  #inFlight: InFlightWrite[] = [];
  #inFlightHead = 0;
  /** Redis answers and everything queued while it did not has been written. */
  #available = false;
  #recovering = false;
  /** Redis's run id: a new one means it restarted and may have lost what its last snapshot missed. */
  #runId = '';
  /** The Redis socket while it is corked for this turn. */
  #corked: { uncork(): void } | undefined;
  #turnEnding = false;
  /** This turn's writes of live sessions, sent together at its end (see `append`). */
  #turnWrites: TurnWrite[] | undefined;
  #resets = 0;
  readonly #probeEveryMs: number;
  readonly #instanceId: string;

  constructor(options: RedisResumeStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'zd:';
    this.#ttlMs = options.ttlMs;
    this.#tombstoneTtlMs = options.tombstoneTtlMs;
    this.#keyTtlMs = options.ttlMs + options.tombstoneTtlMs;
    this.#now = options.now ?? Date.now;
    this.#probeEveryMs = options.probeEveryMs ?? 1000;
    this.#instanceId = options.instanceId;
    this.#maxBacklog = options.maxBacklog ?? 100_000;
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      enableAutoPipelining: false,
      // Fail fast while disconnected: writes go to our own ordered backlog, reads answer
      // store_unavailable, and nothing waits in ioredis's queue for an unknown time.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 2000,
      connectionName: 'zerodrop',
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000) + Math.floor(Math.random() * 100),
      ...options.redis,
    }) as ScriptedRedis;
    this.#redis.on('error', (err: Error) => this.#fail(err));
    this.#redis.on('close', () => {
      this.#available = false;
    });
    // The scripts that write a session share lib.lua (key TTLs, progress, one append).
    const lib = script('lib');
    this.#redis.defineCommand('zdWriteSession', { numberOfKeys: 2, lua: lib + script('write-session') });
    this.#redis.defineCommand('zdGet', { numberOfKeys: 2, lua: lib + script('get') });
    this.#redis.defineCommand('zdAppend', { numberOfKeys: 2, lua: lib + script('append') });
    this.#redis.defineCommand('zdAppendBatch', { lua: lib + script('append-batch') });
    this.#redis.defineCommand('zdUpdate', { numberOfKeys: 2, lua: lib + script('update') });
    this.#redis.defineCommand('zdBury', { numberOfKeys: 3, lua: script('bury') });
    this.#redis.defineCommand('zdUnlinkDevice', { numberOfKeys: 1, lua: script('unlink-device') });
  }

  get generation(): string {
    return this.#generation;
  }

  /** The ioredis client (for health probes and tests). */
  get client(): Redis {
    return this.#redis;
  }

  async open(): Promise<void> {
    await this.#redis.connect();
    this.#generation = await this.#ensureGeneration();
    this.#runId = await this.#serverRunId();
    this.#sessions = await this.#redis.zcard(this.#expiryKey);
    await this.#redis.set(
      this.#instanceKey(this.#instanceId),
      '1',
      'PX',
      Math.max(3000, this.#probeEveryMs * 5),
    );
    this.#available = true;
    this.#probeTimer = setInterval(() => void this.#probe(), this.#probeEveryMs);
    this.#probeTimer.unref();
    this.#redis.on('ready', () => void this.#recover());
  }

  async close(): Promise<void> {
    clearInterval(this.#probeTimer);
    await this.#redis.del(this.#instanceKey(this.#instanceId)).catch(() => 0);
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  onReset(listener: () => void | Promise<void>): void {
    this.#resetListeners.push(listener);
  }

  /**
   * Redis answers again: check whether it lost its data (then the gateway writes back its sessions),
   * replay the backlog in order, and only then write directly again, so no write overtakes an older one.
   */
  async #recover(): Promise<void> {
    if (this.#recovering) return;
    this.#recovering = true;
    this.#available = false;
    try {
      const runId = await this.#serverRunId();
      const restarted = runId !== this.#runId;
      this.#runId = runId;
      await this.#checkData(restarted);
      if (await this.#flush()) this.#available = this.#redis.status === 'ready';
    } catch (err) {
      this.#fail(err as Error);
    } finally {
      this.#recovering = false;
    }
  }

  /**
   * Redis may have lost writes when its generation key is gone (it lost everything: a restart without
   * persistence, a flush) or when it restarted (it lost what its last snapshot did not hold). Either
   * way the gateway writes back the sessions it holds, whole; a lost generation is replaced, so epochs
   * minted before prove the loss to devices whose sessions nobody could write back.
   */
  async #checkData(restarted: boolean): Promise<void> {
    const gen = await this.#redis.get(`${this.#prefix}generation`);
    const lost = gen !== this.#generation;
    if (lost) this.#generation = await this.#ensureGeneration();
    if (!lost && !restarted) return;
    this.#resets++;
    for (const l of this.#resetListeners) await l();
  }

  async #serverRunId(): Promise<string> {
    const info = await this.#redis.info('server');
    return /run_id:(\w+)/.exec(info)?.[1] ?? '';
  }

  /**
   * Replay the backlog in order, pipelined in batches (issued in one turn, so they reach Redis in
   * order on the one connection). Writes keep arriving while it runs; it returns once it caught up,
   * or false when Redis went away again (what failed goes back to the front, still in order).
   */
  async #flush(): Promise<boolean> {
    while (this.#backlog.length > 0) {
      const batch = this.#backlog.splice(0, FLUSH_BATCH);
      const results = await Promise.allSettled(batch.map((op) => this.#timed(op)));
      const lost = results.findIndex((r) => r.status === 'rejected' && !(r.reason instanceof ReplyError));
      if (lost >= 0) {
        this.#backlog.unshift(...batch.slice(lost));
        return false;
      }
    }
    return true;
  }

  /**
   * A write of a session this instance holds live. While Redis does not answer it is queued in order
   * and answered with `queued` (the live session keeps working from memory); it is refused with
   * store_unavailable only when the backlog is full. Replayed writes are idempotent (see the scripts).
   */
  #write<T>(op: () => Promise<T>, queued: T): Promise<T> {
    // Writes waiting for the end of the turn were issued first: they go first, here or to the backlog.
    if (this.#turnWrites) this.#sendTurnWrites();
    if (!this.#writesDirectly) {
      try {
        return Promise.resolve(this.#enqueue(op, queued));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const entry: InFlightWrite = {
        op,
        queued,
        resolve: resolve as (v: unknown) => void,
        reject,
        settled: false,
      };
      this.#inFlight.push(entry);
      this.#timed(op).then(
        (value) => {
          if (this.#claim(entry)) resolve(value);
        },
        (err: unknown) => this.#failed(entry, err),
      );
    });
  }

  /** An in-flight write got its answer: true when it was still unanswered (the caller settles it). */
  #claim(entry: InFlightWrite): boolean {
    if (entry.settled) return false;
    entry.settled = true;
    const list = this.#inFlight;
    while (this.#inFlightHead < list.length && list[this.#inFlightHead]!.settled) this.#inFlightHead++;
    if (this.#inFlightHead === list.length) {
      this.#inFlight = [];
      this.#inFlightHead = 0;
    } else if (this.#inFlightHead > 1024 && this.#inFlightHead * 2 > list.length) {
      this.#inFlight = list.slice(this.#inFlightHead);
      this.#inFlightHead = 0;
    }
    return true;
  }

  /** A write sent straight to Redis failed: Redis refused it, or the connection is lost. */
  #failed(entry: InFlightWrite, err: unknown): void {
    if (err instanceof ReplyError) {
      if (this.#claim(entry)) entry.reject(err);
      return;
    }
    if (entry.settled) return;
    // The connection is lost: every write still unanswered goes back to the front of the backlog,
    // in the order it was sent (ahead of anything queued since), and is answered as queued.
    this.#available = false;
    const lost = this.#inFlight.slice(this.#inFlightHead).filter((e) => !e.settled);
    this.#inFlight = [];
    this.#inFlightHead = 0;
    this.#backlog.unshift(...lost.map((e) => (e.write ? this.#writeAlone(e.write) : e.op!)));
    for (const e of lost) {
      e.settled = true;
      e.resolve(e.write ? { ok: true, seq: e.write.seq } : e.queued);
    }
  }

  /** Redis answers and nothing waits in the backlog: a write may go straight to Redis. */
  get #writesDirectly(): boolean {
    return this.#available && this.#backlog.length === 0;
  }

  /** Queue a write that could not reach Redis, in order; refused once the backlog is full. */
  #enqueue<T>(op: () => Promise<T>, queued: T): T {
    if (this.#backlog.length >= this.#maxBacklog) {
      throw createError(
        Errors.STORE_UNAVAILABLE,
        `redis unreachable and ${this.#maxBacklog} writes already wait`,
      );
    }
    this.#backlog.push(op);
    return queued;
  }

  /**
   * Check Redis still holds this store's generation. When it does not (a restart without persistence,
   * a flush), Redis lost every session: mint a new generation, so earlier epochs prove the loss, and
   * tell the gateway to write back its live sessions.
   */
  async #probe(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    if (!this.#available) {
      if (!this.#recovering) void this.#recover();
      return;
    }
    try {
      const [gen, count] = await Promise.all([
        this.#redis.get(`${this.#prefix}generation`),
        this.#redis.zcard(this.#expiryKey),
        this.#redis.set(
          this.#instanceKey(this.#instanceId),
          '1',
          'PX',
          Math.max(3000, this.#probeEveryMs * 5),
        ),
      ]);
      this.#sessions = count;
      if (gen !== this.#generation) void this.#recover();
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #key(sessionId: string, part: 's' | 'o' | 't'): string {
    return `${this.#prefix}{${sessionId}}:${part}`;
  }

  #deviceKey(deviceId: string): string {
    return `${this.#prefix}dev:{${deviceId}}`;
  }

  get #expiryKey(): string {
    return `${this.#prefix}expiry`;
  }

  async #ensureGeneration(): Promise<string> {
    const key = `${this.#prefix}generation`;
    await this.#redis.set(key, `r${randomId(6)}`, 'NX');
    const gen = await this.#redis.get(key);
    if (!gen) throw new Error('redis lost the generation key while it was being written');
    return gen;
  }

  /** Run one command (or script call) of `writes` writes; every command goes through here. */
  async #timed<T>(op: () => Promise<T>, writes = 1): Promise<T> {
    // Writes waiting for the end of the turn go first: no command overtakes one issued before it.
    if (this.#turnWrites) this.#sendTurnWrites();
    const started = performance.now();
    this.#pending += writes;
    this.#corkForThisTurn();
    try {
      return await op();
    } catch (err) {
      this.#fail(err as Error);
      throw err;
    } finally {
      this.#pending -= writes;
      this.#latency.add(performance.now() - started);
    }
  }

  /**
   * Hold the connection's writes until the end of this pass of the event loop, so the commands of
   * every session issued in it (every device socket that had data, a batch of replies resolving many
   * at once) leave in one write instead of one each.
   */
  #corkForThisTurn(): void {
    if (this.#corked) return;
    const socket = this.#redis.stream;
    if (!socket || typeof socket.cork !== 'function' || this.#redis.status !== 'ready') return;
    socket.cork();
    this.#corked = socket;
    this.#endTurnSoon();
  }

  /**
   * The end of a turn is the check phase of this pass of the event loop (`setImmediate`): after the
   * callbacks of every socket that was ready together, not after each one (`process.nextTick`), so a
   * turn batches the writes of all the device sockets one poll found with data.
   */
  #endTurnSoon(): void {
    if (this.#turnEnding) return;
    this.#turnEnding = true;
    setImmediate(this.#endTurn);
  }

  readonly #endTurn = (): void => {
    try {
      this.#sendTurnWrites();
    } finally {
      const corked = this.#corked;
      this.#corked = undefined;
      this.#turnEnding = false;
      corked?.uncork();
    }
  };

  #fail(err: Error): void {
    this.#errors++;
    this.#lastError = err.message;
  }

  #recordArgs(r: SessionRecord, now: number): (string | number | Buffer)[] {
    return [
      r.deviceId,
      r.epoch,
      r.tokenHash,
      now,
      this.#keyTtlMs,
      r.outAcked,
      r.inProcessed,
      r.owner,
      r.claimedAt,
      ...r.outbound.map((m) => encodePayload(m.payload)),
    ];
  }

  async #indexSession(r: SessionRecord, now: number): Promise<void> {
    await Promise.all([
      this.#redis.set(this.#deviceKey(r.deviceId), r.sessionId, 'PX', this.#keyTtlMs),
      this.#redis.zadd(this.#expiryKey, now + this.#ttlMs, r.sessionId),
    ]);
  }

  async createSession(s: NewSession): Promise<void> {
    const now = this.#now();
    const record: SessionRecord = {
      ...s,
      owner: this.#instanceId,
      claimedAt: s.claimedAt ?? now,
      outAcked: 0,
      inProcessed: 0,
      createdAt: now,
      updatedAt: now,
    };
    await this.#timed(async () => {
      await this.#redis.zdWriteSession(
        this.#key(s.sessionId, 's'),
        this.#key(s.sessionId, 'o'),
        'create',
        ...this.#recordArgs(record, now),
      );
      await this.#indexSession(record, now);
    });
  }

  async restoreSession(record: SessionRecord): Promise<boolean> {
    const now = this.#now();
    return this.#timed(async () => {
      const keys = [this.#key(record.sessionId, 's'), this.#key(record.sessionId, 'o')] as const;
      const written = await this.#redis.zdWriteSession(
        keys[0],
        keys[1],
        'restore',
        ...this.#recordArgs(record, now),
      );
      if (written !== 1) return false;
      await this.#indexSession(record, now);
      return true;
    });
  }

  getSession(sessionId: string): Promise<SessionRecord | null> {
    return this.#read(sessionId, '', 0);
  }

  claimSession(sessionId: string, claimedAt: number): Promise<SessionRecord | null> {
    return this.#read(sessionId, this.#instanceId, claimedAt);
  }

  async recordAffinity(deviceId: string, instanceId: string, prefix: string, ttlMs: number): Promise<void> {
    // Outside the key prefix on purpose: the runbook's purge is `redis-cli --scan --pattern "sticky:affinity:*"`.
    await this.#write(() => this.#redis.set(`${prefix}${deviceId}`, instanceId, 'PX', ttlMs), 'OK');
  }

  async isInstanceAlive(instanceId: string): Promise<boolean> {
    if (instanceId === this.#instanceId) return true;
    return (await this.#timed(() => this.#redis.exists(this.#instanceKey(instanceId)))) === 1;
  }

  #instanceKey(instanceId: string): string {
    return `${this.#prefix}instance:${instanceId}`;
  }

  async #read(sessionId: string, claimFor: string, claimedAt: number): Promise<SessionRecord | null> {
    const r = await this.#timed(() =>
      this.#redis.zdGetBuffer(
        this.#key(sessionId, 's'),
        this.#key(sessionId, 'o'),
        claimFor,
        claimFor ? claimedAt : this.#now(),
        this.#keyTtlMs,
      ),
    );
    if (!r) return null;
    const [device, epoch, token, acked, processed, created, updated, owner, claimed, ...out] = r;
    const outAcked = Number(acked!.toString());
    const updatedAt = Number(updated!.toString());
    if (updatedAt + this.#ttlMs <= this.#now()) return null;
    return {
      sessionId,
      deviceId: device!.toString(),
      epoch: epoch!.toString(),
      tokenHash: token!.toString(),
      outAcked,
      inProcessed: Number(processed!.toString()),
      createdAt: Number(created!.toString()),
      updatedAt,
      owner: owner!.toString(),
      claimedAt: Number(claimed!.toString()),
      outbound: out.map((b, i) => ({ seq: outAcked + i + 1, payload: decodePayload(b) })),
    };
  }

  async sessionOfDevice(deviceId: string): Promise<string | null> {
    const id = await this.#timed(() => this.#redis.get(this.#deviceKey(deviceId)));
    if (!id) return null;
    const updated = await this.#timed(() => this.#redis.hget(this.#key(id, 's'), 'updated'));
    return updated !== null && Number(updated) + this.#ttlMs > this.#now() ? id : null;
  }

  async wasExpired(sessionId: string): Promise<boolean> {
    return (await this.#timed(() => this.#redis.exists(this.#key(sessionId, 't')))) === 1;
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.#write(async () => {
      const device = await this.#redis.hget(this.#key(sessionId, 's'), 'device');
      await Promise.all([
        this.#redis.del(this.#key(sessionId, 's'), this.#key(sessionId, 'o')),
        this.#redis.zrem(this.#expiryKey, sessionId),
        device ? this.#redis.zdUnlinkDevice(this.#deviceKey(device), sessionId) : Promise.resolve(0),
      ]);
    }, undefined);
  }

  /**
   * The writes of live sessions (appends, progress saves) wait for the end of the turn, and every
   * session's writes of that turn go to Redis in one script call (append-batch.lua), each answered as
   * if it ran alone: a pass of the event loop costs Redis and ioredis one command, not one per
   * message. While Redis is away they go to the backlog one by one, in order, like every other write.
   */
  append(
    sessionId: string,
    epoch: string,
    message: StoredMessage,
    maxUnacked: number,
    progress?: SessionProgress,
  ): Promise<AppendOutcome> {
    return this.#turnWrite(sessionId, epoch, message.seq, message.payload, maxUnacked, progress);
  }

  saveProgress(sessionId: string, epoch: string, progress: SessionProgress): Promise<void> {
    return this.#turnWrite(sessionId, epoch, 0, undefined, 0, progress).then(() => undefined);
  }

  #turnWrite(
    sessionId: string,
    epoch: string,
    seq: number,
    payload: Payload | undefined,
    max: number,
    progress: SessionProgress | undefined,
  ): Promise<AppendOutcome> {
    if (!this.#writesDirectly) {
      const write: SessionWrite = { sessionId, epoch, seq, payload, max, progress };
      return this.#write(this.#writeAlone(write), { ok: true, seq });
    }
    return new Promise((resolve, reject) => {
      if (!this.#turnWrites) {
        this.#turnWrites = [];
        this.#endTurnSoon();
      }
      this.#turnWrites.push(new TurnWrite(sessionId, epoch, seq, payload, max, progress, resolve, reject));
    });
  }

  /** One turn write as its own script call (the backlog replays them so, one at a time). */
  #writeAlone(w: SessionWrite): () => Promise<AppendOutcome> {
    const { sessionId, epoch, seq, payload, max, progress } = w;
    if (payload) return () => this.#append(sessionId, epoch, seq, payload, max, this.#instanceId, progress);
    return async () => {
      await this.#updateNow(sessionId, epoch, 'progress', progress?.acked ?? '', progress?.processed ?? '');
      return { ok: true, seq };
    };
  }

  /**
   * The turn's writes, in order, in batches of at most TURN_BATCH writes and TURN_BATCH_BYTES packed
   * (a single write larger than that goes in a batch of its own).
   */
  #sendTurnWrites(): void {
    const turn = this.#turnWrites;
    if (!turn) return;
    this.#turnWrites = undefined;
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < turn.length; i++) {
      const size = packedSize(turn[i]!);
      if (i > from && (i - from === TURN_BATCH || bytes + size > TURN_BATCH_BYTES)) {
        this.#sendBatch(turn.slice(from, i), bytes);
        from = i;
        bytes = 0;
      }
      bytes += size;
    }
    this.#sendBatch(from === 0 ? turn : turn.slice(from), bytes);
  }

  #sendBatch(batch: readonly TurnWrite[], bytes: number): void {
    if (batch.length === 1 || !this.#writesDirectly) {
      for (const w of batch)
        this.#write(this.#writeAlone(w), { ok: true, seq: w.seq }).then(w.resolve, w.reject);
      return;
    }
    let packed: Buffer;
    try {
      packed = packTurnWrites(batch, bytes);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) this.#inFlight.push(batch[i]!);
    this.#timed(
      () => this.#redis.zdAppendBatch(0, this.#now(), this.#keyTtlMs, this.#instanceId, this.#prefix, packed),
      batch.length,
    ).then(
      (r) => {
        for (let i = 0; i < batch.length; i++) {
          const w = batch[i]!;
          const answer = r[i]!;
          if (!this.#claim(w)) continue;
          if (typeof answer === 'string' && answer.startsWith('err:')) {
            // That write alone failed inside the script (the others ran): it fails as a refused write would.
            w.reject(new ReplyError(answer.slice(4)));
          } else {
            w.resolve(w.payload ? batchOutcome(answer) : { ok: true, seq: 0 });
          }
        }
      },
      (err: unknown) => {
        // A refusal of the whole call fails each write; a lost connection requeues each (see #failed).
        for (let i = 0; i < batch.length; i++) this.#failed(batch[i]!, err);
      },
    );
  }

  appendNext(
    sessionId: string,
    payload: Payload,
    maxUnacked: number,
    expectedOwner = '',
  ): Promise<AppendOutcome> {
    return this.#timed(() => this.#append(sessionId, '', 0, payload, maxUnacked, expectedOwner));
  }

  /** One append script call, not timed: callers go through `#timed` (appendNext) or `#write`. */
  async #append(
    sessionId: string,
    epoch: string,
    seq: number,
    payload: Payload,
    max: number,
    owner: string,
    progress?: SessionProgress,
  ): Promise<AppendOutcome> {
    const [ok, value, holder] = await this.#redis.zdAppend(
      this.#key(sessionId, 's'),
      this.#key(sessionId, 'o'),
      epoch,
      seq,
      encodePayload(payload),
      max,
      this.#now(),
      this.#keyTtlMs,
      owner,
      progress?.acked ?? '',
      progress?.processed ?? '',
    );
    return appendOutcome(ok, value, holder);
  }

  /** One update script: `value` and `value2` are the op's arguments (see update.lua). */
  async #update(
    sessionId: string,
    epoch: string,
    op: string,
    value: string | number,
    value2: string | number = '',
  ): Promise<void> {
    await this.#write(() => this.#updateNow(sessionId, epoch, op, value, value2), 0);
  }

  #updateNow(
    sessionId: string,
    epoch: string,
    op: string,
    value: string | number,
    value2: string | number = '',
  ): Promise<number> {
    return this.#redis.zdUpdate(
      this.#key(sessionId, 's'),
      this.#key(sessionId, 'o'),
      epoch,
      op,
      value,
      this.#now(),
      this.#keyTtlMs,
      value2,
    );
  }

  rotateToken(sessionId: string, epoch: string, tokenHash: string): Promise<void> {
    return this.#update(sessionId, epoch, 'token', tokenHash);
  }

  async touch(sessionIds: readonly string[]): Promise<void> {
    // Not queued while Redis is away: the next touch after it answers refreshes the same sessions.
    if (!this.#available) return;
    await Promise.all(sessionIds.map((id) => this.#update(id, '', 'touch', 0)));
  }

  async expire(now: number): Promise<ExpiredSession[]> {
    const due = await this.#timed(() =>
      this.#redis.zrangebyscore(this.#expiryKey, '-inf', now, 'LIMIT', 0, 500),
    );
    const out: ExpiredSession[] = [];
    for (const sessionId of due) {
      const r = await this.#timed(() =>
        this.#redis.zdBuryBuffer(
          this.#key(sessionId, 's'),
          this.#key(sessionId, 'o'),
          this.#key(sessionId, 't'),
          now,
          this.#ttlMs,
          this.#tombstoneTtlMs,
        ),
      );
      if (r === null) {
        await this.#timed(() => this.#redis.zrem(this.#expiryKey, sessionId));
        continue;
      }
      if (r[0]!.toString() === '0') {
        // Refreshed since it was scheduled: look again when it could expire next.
        await this.#timed(() =>
          this.#redis.zadd(this.#expiryKey, Number(r[1]!.toString()) + this.#ttlMs, sessionId),
        );
        continue;
      }
      const [, device, epoch, acked, ...payloads] = r;
      const deviceId = device!.toString();
      const outAcked = Number(acked!.toString());
      await this.#timed(() =>
        Promise.all([
          this.#redis.zrem(this.#expiryKey, sessionId),
          this.#redis.zdUnlinkDevice(this.#deviceKey(deviceId), sessionId),
        ]),
      );
      this.#expired++;
      out.push({
        sessionId,
        deviceId,
        epoch: epoch!.toString(),
        undelivered: payloads.map((b, i) => ({ seq: outAcked + i + 1, payload: decodePayload(b) })),
      });
    }
    return out;
  }

  metrics(): ResumeStoreMetrics {
    const [p50, p99] = this.#latency.percentiles(50, 99);
    const connected = this.#redis.status === 'ready';
    return {
      kind: this.kind,
      // Degraded: live sessions keep working from memory and their writes wait in order.
      status: this.#available ? 'ready' : 'degraded',
      connected,
      generation: this.#generation,
      sessions: this.#sessions,
      buffered_messages: null,
      pending_writes: this.#pending + this.#backlog.length + (this.#turnWrites?.length ?? 0),
      errors: this.#errors,
      expired_sessions: this.#expired,
      resets: this.#resets,
      last_error: this.#lastError,
      command_latency_ms: { p50: p50!, p99: p99! },
    };
  }
}
