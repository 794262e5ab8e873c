/**
 * The messages of the paced (latency) and backlog (resume) workloads, between a suite and its children.
 * A server child (raw `ws`, gateway, Socket.IO) paces its pushes and tallies the devices' probes between
 * `paced-start` and `paced-report`, reports which devices are away, and queues a backlog for them. A
 * device worker (paced-worker.ts, resume-worker.ts) opens its devices, then paces its own probes or
 * drops and resumes its devices on the suite's word. Every time in these messages is on the shared
 * clock (clock.ts), so all processes start and measure the same window.
 */
import type { BenchMessage } from './child.js';
import type { Target } from './ipc.js';
import type { ReceivedCounts } from './pacing.js';

/** The window of a paced run: send from `startAt` to `measureUntil`, keep latencies from `measureFrom`. */
export interface PacedWindow {
  readonly startAt: number;
  readonly measureFrom: number;
  readonly measureUntil: number;
}

// ── server child ─────────────────────────────────────────────────────────────────────────────────

/** Push `ratePerSec` probes a second to every connected device and tally theirs, until `report`. */
export interface PacedStartMessage extends BenchMessage, PacedWindow {
  readonly type: 'paced-start';
  readonly ratePerSec: number;
  /**
   * A raw `ws` server pings each connection this often (WebSocket ping frames) and times the pongs:
   * the baseline of the gateway's own RTT measurement. Servers that measure RTT themselves ignore it.
   */
  readonly pingEveryMs: number;
}

export interface PacedStartedMessage extends BenchMessage {
  readonly type: 'paced-started';
  /** Devices the server pushes to (all that were connected). */
  readonly devices: number;
}

/** Asked after the window: every push handed over and accepted (stored, for the gateway). */
export interface PacedSentMessage extends BenchMessage {
  readonly type: 'paced-sent';
  /** Probes pushed, per device id. */
  readonly pushed: Map<string, number>;
  /** Pushes the server refused (the gateway's `send` rejected), and the first reason. */
  readonly failures: number;
  readonly firstFailure: string | undefined;
  /** How late the server's pushes left against their schedule (its event loop), p99 ms. */
  readonly latenessP99Ms: number;
}

export interface PacedReportMessage extends BenchMessage {
  readonly type: 'paced-report';
  /** Device→application probes per device id, as the application received them. */
  readonly inbound: Map<string, ReceivedCounts>;
  readonly malformed: number;
  /** One-way device→application latencies (ms) of the probes sent inside the window. */
  readonly deviceToAppMs: Float64Array;
  /** RTT samples the server measured inside the window (gateway: its own pings), if it measures any. */
  readonly rttMs: Float64Array | undefined;
  /** What the gateway itself reports over its recent RTT window at the end (`rtt_p50/95/99_ms`). */
  readonly ownRtt: { readonly p50: number; readonly p95: number; readonly p99: number } | undefined;
}

/** Answer once none of `ids` has a live connection (the server noticed the drop). */
export interface AwayRequest extends BenchMessage {
  readonly type: 'away';
  readonly ids: readonly string[];
  readonly timeoutMs: number;
}

export interface AwayMessage extends BenchMessage {
  readonly type: 'away-done';
  readonly ms: number;
  /** Devices still attached when the wait ended (0 unless it timed out). */
  readonly stillAttached: number;
}

/** Push `count` probes (counters 1…count) to each of `ids` and answer once all are accepted. */
export interface BacklogRequest extends BenchMessage {
  readonly type: 'backlog';
  readonly ids: readonly string[];
  readonly count: number;
}

export interface BacklogMessage extends BenchMessage {
  readonly type: 'backlog-done';
  readonly ms: number;
  readonly failures: number;
  readonly firstFailure: string | undefined;
}

// ── device workers ───────────────────────────────────────────────────────────────────────────────

export interface PacedPlan {
  readonly target: Target;
  readonly url: string;
  readonly ids: readonly string[];
  readonly ratePerSec: number;
  readonly connectTimeoutMs: number;
}

export interface PacedRunMessage extends BenchMessage {
  readonly type: 'paced-run';
  readonly plan: PacedPlan;
}

export interface PacedGoMessage extends BenchMessage, PacedWindow {
  readonly type: 'paced-go';
}

/** After the window: wait (bounded) for our probes' acks and for `expected` pushes per device, then report. */
export interface PacedFinishMessage extends BenchMessage {
  readonly type: 'paced-finish';
  readonly expected: Map<string, number>;
  readonly timeoutMs: number;
}

export interface PacedWorkerResult {
  /** Probes sent, per device id. */
  readonly sent: Map<string, number>;
  /** The server's pushes per device id, as the devices received them. */
  readonly inbound: Map<string, ReceivedCounts>;
  readonly malformed: number;
  /** One-way application→device latencies (ms) of the pushes sent inside the window. */
  readonly appToDeviceMs: Float64Array;
  /** How late the devices' sends left against their schedule, p99 ms (the worker's event loop). */
  readonly latenessP99Ms: number;
  /** Our probes still unacknowledged when the wait ended (SDK, Socket.IO acks; raw: 0). */
  readonly unacked: number;
  readonly reconnects: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** CPU time of the worker inside the window (µs). */
  readonly cpuUs: number;
  /** From the window's end to every push received and every probe acknowledged. */
  readonly drainMs: number;
}

export interface PacedResultMessage extends BenchMessage {
  readonly type: 'paced-result';
  readonly result: PacedWorkerResult;
}

export interface ResumePlan {
  readonly target: Target;
  readonly url: string;
  readonly ids: readonly string[];
  /** Probes each device must receive after coming back. */
  readonly backlog: number;
  readonly connectTimeoutMs: number;
}

export interface ResumeRunMessage extends BenchMessage {
  readonly type: 'resume-run';
  readonly plan: ResumePlan;
}

/** Cut every device's connection (no close frame) and keep it offline. */
export interface CutMessage extends BenchMessage {
  readonly type: 'cut';
}

export interface CutDoneMessage extends BenchMessage {
  readonly type: 'cut-done';
  readonly cut: number;
}

/** Bring device i back online at `at + i × spreadMs / devices`; answer once all caught up (bounded). */
export interface ComeBackMessage extends BenchMessage {
  readonly type: 'come-back';
  readonly at: number;
  readonly spreadMs: number;
  readonly timeoutMs: number;
}

/** One device's way back, times in ms. */
export interface DeviceComeBack {
  /** From dialling the connection that worked to the last backlog probe handed to the application. */
  readonly dialToCaughtUpMs: number;
  /** From dialling to the session being usable (gateway welcome, Socket.IO `connect`, raw `open`). */
  readonly dialToOpenMs: number;
  /** From going back online to caught up: the client's reconnect backoff on top of the above. */
  readonly onlineToCaughtUpMs: number;
  /** The server resumed the session (gateway `resumed`, Socket.IO `recovered`); raw: a new connection. */
  readonly recovered: boolean;
  /** Connection attempts while coming back (the failed ones while offline included). */
  readonly dials: number;
}

export interface ResumeWorkerResult {
  /** One entry per device that caught up. */
  readonly devices: readonly DeviceComeBack[];
  /** Backlog probes per device id, as the devices received them. */
  readonly inbound: Map<string, ReceivedCounts>;
  readonly malformed: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

export interface ResumeResultMessage extends BenchMessage {
  readonly type: 'resume-result';
  readonly result: ResumeWorkerResult;
}
