/**
 * The resume store: where a session's delivery state lives so that it outlives its connection (and,
 * with a shared store, its instance). This file is the contract; `memory-store.ts` and the Redis store
 * implement it, and `test-support/store-conformance.ts` is the one suite every implementation passes.
 *
 * Contract:
 * - A session record holds the device id, the session epoch, the hash of the current resume token,
 *   the server→device messages not yet acknowledged (contiguous, ascending, above `outAcked`) and the
 *   highest device→server sequence the application processed (`inProcessed`).
 * - `append` is atomic: it stores a message only if the session exists with that epoch, the message's
 *   seq is exactly one above the last stored, and fewer than `maxUnacked` messages are held. Otherwise
 *   it stores nothing and says why. Once `append` resolves `ok`, the message is durable (as durable as
 *   the store is) and stays until `ack` covers it or the session expires or is deleted.
 * - Ownership: the instance holding a session in memory owns it (`owner`). `createSession` and
 *   `claimSession` make the calling instance the owner; `append` succeeds only for the owner (another
 *   instance took the session over: `not_owner`). `appendNext` (the store assigns the seq) is for a
 *   session no live instance holds: it answers `owned` with the owner's id when the session has an
 *   owner other than `expectedOwner`, so the caller can forward the message to that owner instead.
 * - `append` is idempotent: re-running an append that was applied (a write replayed after a lost
 *   reply) answers `ok` again; a different payload at that seq is a `conflict`.
 * - `saveProgress` (the device's ack of server→device messages and the last device→server message
 *   the application processed, either or both in one write) and `rotateToken` are monotonic or
 *   idempotent and ignore a stale epoch.
 * - Every write refreshes the session's TTL; `touch` refreshes it without a write.
 * - A session not refreshed within the TTL expires: `expire(now)` removes it and returns it with the
 *   messages it still held, so the caller can count them as dropped and dead-letter them. An expired
 *   session leaves a tombstone, so a later resume can be told `expired` rather than `unknown_session`.
 * - `generation` names the store's incarnation. It changes when the store lost its data (a restart
 *   without persistence); epochs minted under an older generation prove that a missing session was
 *   lost, not unknown.
 * - Methods reject only when the store cannot answer (unreachable); never for a refused append.
 */
import type { Payload } from '@zerodrop/protocol';

export interface StoredMessage {
  readonly seq: number;
  readonly payload: Payload;
}

export interface NewSession {
  /** When the creating instance claimed it (ms); defaults to the store's clock. */
  readonly claimedAt?: number;
  readonly sessionId: string;
  readonly deviceId: string;
  readonly epoch: string;
  /**
   * SHA-256 hash of the current resume token, then — separated by a space, until the device shows it
   * received the current one — the hash of the token it resumed with (see ids.ts `matchToken`).
   */
  readonly tokenHash: string;
  /** Messages carried over from the device's previous session, already renumbered from 1. */
  readonly outbound: readonly StoredMessage[];
}

export interface SessionRecord extends NewSession {
  /** Instance holding the session in memory ('' when none). */
  readonly owner: string;
  /** When the owner claimed it (ms); a write-back never overwrites a newer claim. */
  readonly claimedAt: number;
  /** Highest server→device seq the device acknowledged; `outbound` holds everything above it. */
  readonly outAcked: number;
  /** Highest device→server seq the application processed. */
  readonly inProcessed: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What `saveProgress` moves forward; an absent field is left as it is. */
export interface SessionProgress {
  /** Highest server→device seq the device acknowledged. */
  readonly acked?: number;
  /** Highest device→server seq the application processed. */
  readonly processed?: number;
}

export type AppendOutcome =
  | { readonly ok: true; readonly seq: number }
  | { readonly ok: false; readonly reason: 'buffer_full' | 'not_found' | 'conflict' | 'not_owner' }
  | { readonly ok: false; readonly reason: 'owned'; readonly owner: string };

export interface ExpiredSession {
  readonly sessionId: string;
  readonly deviceId: string;
  readonly epoch: string;
  /** Server→device messages that can no longer be delivered. */
  readonly undelivered: readonly StoredMessage[];
}

export type StoreStatus = 'ready' | 'degraded' | 'unavailable';

export interface ResumeStoreMetrics {
  readonly kind: string;
  readonly status: StoreStatus;
  readonly connected: boolean;
  readonly generation: string;
  readonly sessions: number;
  /** Messages held across all sessions, where the store can count them cheaply (null otherwise). */
  readonly buffered_messages: number | null;
  readonly pending_writes: number;
  readonly errors: number;
  readonly expired_sessions: number;
  /** Times the store lost data or restarted while this instance ran (its sessions were written back). */
  readonly resets: number;
  readonly last_error: string | null;
  readonly command_latency_ms: { readonly p50: number; readonly p99: number };
}

export interface ResumeStore {
  /** `memory`, `redis`, … */
  readonly kind: string;
  /** The store's incarnation; see the contract above. */
  readonly generation: string;
  /** Whether sessions can move between instances through this store. */
  readonly shared: boolean;

  open(): Promise<void>;
  close(): Promise<void>;

  /** Create a session owned by this instance; the device's index now names it. */
  createSession(session: NewSession): Promise<void>;
  /**
   * Write back a whole session after the store lost its data. Refused (false) when the store holds a
   * claim of the session newer than `record.claimedAt`.
   */
  restoreSession(record: SessionRecord): Promise<boolean>;
  getSession(sessionId: string): Promise<SessionRecord | null>;
  /**
   * Take the session over for this instance and read it, in one atomic step. The record is returned
   * as it was before the claim: its `owner` is the previous owner.
   */
  claimSession(sessionId: string, claimedAt: number): Promise<SessionRecord | null>;
  /** The current session of a device, if any. */
  sessionOfDevice(deviceId: string): Promise<string | null>;
  /** Whether the session expired recently (its tombstone is still kept). */
  wasExpired(sessionId: string): Promise<boolean>;
  deleteSession(sessionId: string): Promise<void>;

  /**
   * `progress`, when given, is saved in the same write, first, exactly as `saveProgress` saves it
   * (whenever the epoch matches, also when the append itself is refused): a session that is sending
   * anyway does not pay a second write for its acks.
   */
  append(
    sessionId: string,
    epoch: string,
    message: StoredMessage,
    maxUnacked: number,
    progress?: SessionProgress,
  ): Promise<AppendOutcome>;
  appendNext(
    sessionId: string,
    payload: Payload,
    maxUnacked: number,
    expectedOwner?: string,
  ): Promise<AppendOutcome>;
  /**
   * Record how far the session got, in one write: `acked` trims the outbound messages up to it (capped
   * at the last one held), `processed` raises the last device→server seq handled. Each only moves forward.
   */
  saveProgress(sessionId: string, epoch: string, progress: SessionProgress): Promise<void>;
  rotateToken(sessionId: string, epoch: string, tokenHash: string): Promise<void>;
  touch(sessionIds: readonly string[]): Promise<void>;
  /**
   * Record which instance a device is on (`<prefix><deviceId>` → instance, with a TTL), for operators
   * and routing tools; a store that is not shared keeps nothing.
   */
  recordAffinity(deviceId: string, instanceId: string, prefix: string, ttlMs: number): Promise<void>;
  /** Whether an instance is alive (it refreshes its presence in a shared store). */
  isInstanceAlive(instanceId: string): Promise<boolean>;

  /**
   * Register a listener for the store losing its data (its generation changed while this instance
   * ran): the gateway then writes back the full state of its live sessions.
   */
  onReset(listener: () => void | Promise<void>): void;

  /** Remove sessions idle past the TTL at `now` and return them. */
  expire(now: number): Promise<ExpiredSession[]>;
  metrics(): ResumeStoreMetrics;
}

export interface ResumeStoreOptions {
  /** The instance using this store: the owner it writes. */
  instanceId: string;
  /** Runbook: 15 minutes. */
  ttlMs: number;
  /** How long an expired session's tombstone is kept (to answer `expired`). */
  tombstoneTtlMs: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}
