/**
 * The messages between the capacity suite and its children. A server (the raw `ws` baseline or the
 * gateway) answers `memory` with its memory after a full GC, its open descriptors and how many
 * heartbeats it has completed, and `window` with its CPU time, event-loop delay and heartbeats since the
 * previous `window` (two requests bracket the measured hold). A
 * capacity worker opens its share of idle connections on `open`, runs the message trickle from `trickle`
 * until `settle`, and closes everything on `close`.
 */
import type { FileLimit } from './capacity-limits.js';
import type { BenchMessage } from './child.js';
import type { LoopWait } from './loop-wait.js';

/** A server's answer to `{ type: 'memory' }`, read right after a full GC (`--expose-gc`). */
export interface MemoryMessage extends BenchMessage {
  readonly type: 'memory';
  /** Whether a GC ran first (false when the child lacks --expose-gc: the figures then include garbage). */
  readonly collected: boolean;
  /**
   * How long the first of those full GCs took (ms): a forced, non-concurrent mark-compact of the whole
   * heap, the worst pause a heap of this size can cause.
   */
  readonly gcMs: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory of C++ objects bound to JS objects, Buffers included. */
  readonly external: number;
  readonly arrayBuffers: number;
  /** V8's limit on the heap (`--max-old-space-size` raises it). */
  readonly heapLimit: number;
  /** Each V8 heap space: committed (`size`) and live (`used`) bytes; new space's slack is not per session. */
  readonly heapSpaces: readonly { readonly name: string; readonly size: number; readonly used: number }[];
  readonly openFds: number | undefined;
  readonly fileLimit: FileLimit | undefined;
  /** Connections the server holds now (gateway: devices past the upgrade; raw: ws clients). */
  readonly connections: number;
  /** Heartbeats completed since start: pongs received for the server's pings. */
  readonly pongs: number;
}

/** A server's answer to `{ type: 'window' }`: what it did since the previous `window` request. */
export interface WindowMessage extends BenchMessage {
  readonly type: 'window';
  readonly ms: number;
  /** CPU time (user + system, µs). */
  readonly cpuUs: number;
  /**
   * Event-loop delay percentiles and maximum (ms), the sampling timer's own period subtracted: how
   * long a ready callback waited.
   */
  readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The same loop, weighted by time: what a moment picked at random waits (see loop-wait.ts). */
  readonly loopWait: LoopWait;
  /** Pongs received for the server's pings. */
  readonly pongs: number;
  /** The resume store's command latency over its last commands (gateway only). */
  readonly storeLatencyMs: { readonly p50: number; readonly p99: number } | undefined;
}

/** The raw `ws` baseline or the gateway. */
export type CapacityTarget = 'raw' | 'gateway';

/** What one capacity worker opens: `connections` idle links to `url`, at most `dialConcurrency` at once. */
export interface CapacityPlan {
  readonly target: CapacityTarget;
  readonly url: string;
  readonly connections: number;
  /** Device ids are `<idPrefix>-<index>`: unique across the whole run. */
  readonly idPrefix: string;
  readonly dialConcurrency: number;
  readonly connectTimeoutMs: number;
}

export interface OpenMessage extends BenchMessage {
  readonly type: 'open';
  readonly plan: CapacityPlan;
}

export interface OpenedMessage extends BenchMessage {
  readonly type: 'opened';
  readonly open: number;
  readonly connectMs: number;
  readonly fileLimit: FileLimit | undefined;
}

/** Every connection sends one probe per `periodMs` on average, spread evenly over the period. */
export interface TrickleMessage extends BenchMessage {
  readonly type: 'trickle';
  readonly periodMs: number;
}

/** Stop the trickle and wait (at most `timeoutMs`) for the echoes still outstanding. */
export interface SettleMessage extends BenchMessage {
  readonly type: 'settle';
  readonly timeoutMs: number;
}

export interface TrickleResult {
  readonly sent: number;
  /** Distinct probes echoed back. */
  readonly echoed: number;
  /** Probes sent and never echoed by the end of the wait. */
  readonly missing: number;
  /** Echoes of a probe that had come back already, or was never sent. */
  readonly duplicates: number;
  /** SDK reconnects during the whole hold (0 for raw ws): a dropped idle connection shows here. */
  readonly reconnects: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** This worker's CPU time from `trickle` to `settle` (µs). */
  readonly cpuUs: number;
}

export interface SettledMessage extends BenchMessage {
  readonly type: 'settled';
  readonly result: TrickleResult;
}
