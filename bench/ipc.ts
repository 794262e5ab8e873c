/**
 * The messages between `run.ts` and its child processes. Servers (raw echo, gateway) answer `ready`
 * once listening and `usage` on request; load workers connect on `run`, load on `start`, and answer
 * `result`. Any child reports a problem as `failed` (see child.ts) instead of dying silently.
 */
import type { BenchMessage } from './child.js';

/** A server child is listening; `url` is where clients connect. */
export interface ReadyMessage extends BenchMessage {
  readonly type: 'ready';
  readonly url: string;
}

/**
 * A server child's answer to `{ type: 'usage' }`: its CPU time so far (user + system, µs), the p99 of
 * its event-loop delay since the previous request, and, for a gateway, its resume store's latency.
 */
export interface UsageMessage extends BenchMessage {
  readonly type: 'usage';
  readonly cpuUs: number;
  readonly loopDelayP99Ms: number;
  /** The store's own figure over its last commands (memory store: 0). */
  readonly storeLatencyMs: { readonly p50: number; readonly p99: number } | undefined;
}

/**
 * How the gateway's echo application replies (throughput suite):
 * - `awaited`: `await gateway.send(reply)` in the handler. Request/reply: a device's next message
 *   reaches the handler only once the previous reply is in the store, one store round trip each.
 * - `queued`: `gateway.send(reply)` without waiting, the handler returns at once. Two streams: the
 *   device's messages are handled as they come, the replies follow; each message, either way, is
 *   still acked only once the store holds it.
 */
export type ReplyMode = 'awaited' | 'queued';

/** Tell a gateway child how its echo application replies; answered with `reply-mode-set`. */
export interface ReplyModeMessage extends BenchMessage {
  readonly type: 'reply-mode';
  readonly mode: ReplyMode;
}

/** Which client a load connection uses: plain `ws`, the device SDK, or socket.io-client. */
export type Target = 'raw' | 'gateway' | 'socketio';

/** What one load worker does: open `connections` to `url`, then run the closed loop on `start`. */
export interface WorkerPlan {
  readonly target: Target;
  readonly url: string;
  readonly connections: number;
  /** Device ids are `<idPrefix>-<index>`: unique per connection across the whole run. */
  readonly idPrefix: string;
  /** Messages in flight per connection. */
  readonly window: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** After the measured window: how long outstanding echoes may take before they count as missing. */
  readonly drainTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface RunMessage extends BenchMessage {
  readonly type: 'run';
  readonly plan: WorkerPlan;
}

export interface ConnectedMessage extends BenchMessage {
  readonly type: 'connected';
  readonly connectMs: number;
}

export interface WorkerResult {
  /** Echoes received inside the measured window. */
  readonly echoes: number;
  /** Length of the measured window as this worker timed it. */
  readonly windowMs: number;
  /** Round-trip latencies (ms) of the echoes inside the window, up to the sample cap. */
  readonly latenciesMs: Float64Array;
  /** Echoes inside the window whose latency was not kept because the sample cap was reached. */
  readonly samplesDropped: number;
  /** Messages sent over the whole run (warm-up and drain included). */
  readonly sent: number;
  /** Distinct counters echoed back. */
  readonly received: number;
  /** Counters sent and never echoed, once the drain ended. */
  readonly missing: number;
  /** Echoes of a counter that had come back already, or was never sent. */
  readonly duplicates: number;
  /** Echoes that arrived after a higher counter of the same connection. */
  readonly outOfOrder: number;
  /** Reconnects of the SDK clients (0 for raw ws). */
  readonly reconnects: number;
  /** Errors the connections reported (SDK `error` events, socket errors), and the first one. */
  readonly errors: number;
  readonly firstError: string | undefined;
  /** CPU time of this worker inside the measured window (µs). */
  readonly cpuUs: number;
  readonly drainMs: number;
}

export interface ResultMessage extends BenchMessage {
  readonly type: 'result';
  readonly result: WorkerResult;
}
