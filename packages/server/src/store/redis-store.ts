/**
 * The Redis resume store (`REDIS_URL`): sessions survive an instance crash and move between
 * instances. Every key of a session shares the hash tag `{<session id>}`, so the layout works on
 * Redis Cluster; what must be atomic runs in the Lua scripts beside this file. Commands are
 * auto-pipelined by ioredis, so concurrent writes of many sessions share round trips.
 *
 * Keys (prefix `zd:` by default):
 *   <p>{<sid>}:s      hash: device, epoch, token (hash), acked, processed, created, updated
 *   <p>{<sid>}:o      list: unacknowledged server→device payloads, oldest first (seq = acked + index + 1)
 *   <p>{<sid>}:t      tombstone of an expired session (kept `tombstoneTtl`)
 *   <p>dev:{<device>} the device's current session id
 *   <p>expiry         sorted set: session id → earliest time it may expire (re-checked by bury.lua)
 *   <p>generation     this Redis's incarnation; its disappearance means Redis lost its data
 *
 * Expiry is decided by the `updated` field, which every write refreshes inside its script; the
 * sorted set only says where to look. Redis key TTLs (TTL + tombstone TTL) are a leak guard, long
 * enough that the sweep always buries a session (and counts its messages) before Redis drops it.
 */
import { readFileSync } from 'node:fs';
import type { Payload } from '@zerodrop/protocol';
import { Redis, type RedisOptions } from 'ioredis';
import { RttWindow } from '../rtt-window.js';
import { randomId } from '../ids.js';
import type {
  AppendOutcome,
  ExpiredSession,
  NewSession,
  ResumeStore,
  ResumeStoreMetrics,
  ResumeStoreOptions,
  SessionRecord,
  StoredMessage,
} from './resume-store.js';

const script = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

interface Scripts {
  zdCreate(hash: string, list: string, ...args: (string | Buffer | number)[]): Promise<number>;
  zdGetBuffer(hash: string, list: string): Promise<Buffer[] | null>;
  zdAppend(hash: string, list: string, ...args: (string | Buffer | number)[]): Promise<[number, string | number]>;
  zdUpdate(hash: string, list: string, ...args: (string | number)[]): Promise<number>;
  zdBuryBuffer(hash: string, list: string, tomb: string, ...args: (string | number)[]): Promise<Buffer[] | null>;
  zdUnlinkDevice(deviceKey: string, sessionId: string): Promise<number>;
}

type ScriptedRedis = Redis & Scripts;

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

export interface RedisResumeStoreOptions extends ResumeStoreOptions {
  url: string;
  keyPrefix?: string;
  /** Extra ioredis options (tests tune reconnection). */
  redis?: RedisOptions;
  /** How often the store checks Redis still holds its data and counts sessions. */
  probeEveryMs?: number;
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
  readonly #resetListeners: (() => void)[] = [];
  readonly #probeEveryMs: number;

  constructor(options: RedisResumeStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'zd:';
    this.#ttlMs = options.ttlMs;
    this.#tombstoneTtlMs = options.tombstoneTtlMs;
    this.#keyTtlMs = options.ttlMs + options.tombstoneTtlMs;
    this.#now = options.now ?? Date.now;
    this.#probeEveryMs = options.probeEveryMs ?? 1000;
    this.#redis = new Redis(options.url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      maxRetriesPerRequest: null,
      connectionName: 'zerodrop',
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000) + Math.floor(Math.random() * 100),
      ...options.redis,
    }) as ScriptedRedis;
    this.#redis.on('error', (err: Error) => this.#fail(err));
    this.#redis.defineCommand('zdCreate', { numberOfKeys: 2, lua: script('create') });
    this.#redis.defineCommand('zdGet', { numberOfKeys: 2, lua: script('get') });
    this.#redis.defineCommand('zdAppend', { numberOfKeys: 2, lua: script('append') });
    this.#redis.defineCommand('zdUpdate', { numberOfKeys: 2, lua: script('update') });
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
    this.#sessions = await this.#redis.zcard(this.#expiryKey);
    this.#probeTimer = setInterval(() => void this.#probe(), this.#probeEveryMs);
    this.#probeTimer.unref();
    this.#redis.on('ready', () => void this.#probe());
  }

  async close(): Promise<void> {
    clearInterval(this.#probeTimer);
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  onReset(listener: () => void): void {
    this.#resetListeners.push(listener);
  }

  /**
   * Check Redis still holds this store's generation. When it does not (a restart without persistence,
   * a flush), Redis lost every session: mint a new generation, so earlier epochs prove the loss, and
   * tell the gateway to write back its live sessions.
   */
  async #probe(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    try {
      const [gen, count] = await Promise.all([
        this.#redis.get(`${this.#prefix}generation`),
        this.#redis.zcard(this.#expiryKey),
      ]);
      this.#sessions = count;
      if (gen === this.#generation) return;
      const previous = this.#generation;
      this.#generation = await this.#ensureGeneration();
      if (this.#generation !== previous) for (const l of this.#resetListeners) l();
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

  async #timed<T>(op: () => Promise<T>): Promise<T> {
    const started = performance.now();
    this.#pending++;
    try {
      return await op();
    } catch (err) {
      this.#fail(err as Error);
      throw err;
    } finally {
      this.#pending--;
      this.#latency.add(performance.now() - started);
    }
  }

  #fail(err: Error): void {
    this.#errors++;
    this.#lastError = err.message;
  }

  async createSession(s: NewSession): Promise<void> {
    const now = this.#now();
    await this.#timed(async () => {
      await this.#redis.zdCreate(
        this.#key(s.sessionId, 's'),
        this.#key(s.sessionId, 'o'),
        s.deviceId,
        s.epoch,
        s.tokenHash,
        now,
        this.#keyTtlMs,
        0,
        0,
        ...s.outbound.map((m) => encodePayload(m.payload)),
      );
      await Promise.all([
        this.#redis.set(this.#deviceKey(s.deviceId), s.sessionId, 'PX', this.#keyTtlMs),
        this.#redis.zadd(this.#expiryKey, now + this.#ttlMs, s.sessionId),
      ]);
    });
  }

  async getSession(sessionId: string): Promise<SessionRecord | null> {
    const r = await this.#timed(() =>
      this.#redis.zdGetBuffer(this.#key(sessionId, 's'), this.#key(sessionId, 'o')),
    );
    if (!r) return null;
    const [device, epoch, token, acked, processed, created, updated, ...out] = r;
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
    await this.#timed(async () => {
      const device = await this.#redis.hget(this.#key(sessionId, 's'), 'device');
      await Promise.all([
        this.#redis.del(this.#key(sessionId, 's'), this.#key(sessionId, 'o')),
        this.#redis.zrem(this.#expiryKey, sessionId),
        device ? this.#redis.zdUnlinkDevice(this.#deviceKey(device), sessionId) : Promise.resolve(0),
      ]);
    });
  }

  append(sessionId: string, epoch: string, message: StoredMessage, maxUnacked: number): Promise<AppendOutcome> {
    return this.#append(sessionId, epoch, message.seq, message.payload, maxUnacked);
  }

  appendNext(sessionId: string, payload: Payload, maxUnacked: number): Promise<AppendOutcome> {
    return this.#append(sessionId, '', 0, payload, maxUnacked);
  }

  async #append(sessionId: string, epoch: string, seq: number, payload: Payload, max: number): Promise<AppendOutcome> {
    const [ok, value] = await this.#timed(() =>
      this.#redis.zdAppend(
        this.#key(sessionId, 's'),
        this.#key(sessionId, 'o'),
        epoch,
        seq,
        encodePayload(payload),
        max,
        this.#now(),
        this.#keyTtlMs,
      ),
    );
    if (ok === 1) return { ok: true, seq: Number(value) };
    return { ok: false, reason: String(value) as 'buffer_full' | 'not_found' | 'conflict' };
  }

  async #update(sessionId: string, epoch: string, op: string, value: string | number): Promise<void> {
    await this.#timed(() =>
      this.#redis.zdUpdate(
        this.#key(sessionId, 's'),
        this.#key(sessionId, 'o'),
        epoch,
        op,
        value,
        this.#now(),
        this.#keyTtlMs,
      ),
    );
  }

  ack(sessionId: string, epoch: string, upTo: number): Promise<void> {
    return this.#update(sessionId, epoch, 'ack', upTo);
  }

  setProcessed(sessionId: string, epoch: string, seq: number): Promise<void> {
    return this.#update(sessionId, epoch, 'processed', seq);
  }

  rotateToken(sessionId: string, epoch: string, tokenHash: string): Promise<void> {
    return this.#update(sessionId, epoch, 'token', tokenHash);
  }

  async touch(sessionIds: readonly string[]): Promise<void> {
    await Promise.all(sessionIds.map((id) => this.#update(id, '', 'touch', 0)));
  }

  async expire(now: number): Promise<ExpiredSession[]> {
    const due = await this.#timed(() => this.#redis.zrangebyscore(this.#expiryKey, '-inf', now, 'LIMIT', 0, 500));
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
        await this.#timed(() => this.#redis.zadd(this.#expiryKey, Number(r[1]!.toString()) + this.#ttlMs, sessionId));
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
      status: connected ? 'ready' : 'unavailable',
      connected,
      generation: this.#generation,
      sessions: this.#sessions,
      buffered_messages: null,
      pending_writes: this.#pending,
      errors: this.#errors,
      expired_sessions: this.#expired,
      last_error: this.#lastError,
      command_latency_ms: { p50: p50!, p99: p99! },
    };
  }
}
