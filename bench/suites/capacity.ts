/**
 * Target 1, capacity: how many idle sessions one gateway process holds with heartbeats on, and what
 * each one costs. The gateway (Redis store on a private `redis-server`, `ZERODROP_HEARTBEAT` short
 * enough that pings and pongs happen while it is measured) runs in its own child process; several
 * load-worker processes open `--capacity-sessions` device SDK clients against it, a bounded number
 * at a time. Measured: the process's RSS and heap after a full GC, idle and with the sessions held,
 * per session; its event-loop delay and CPU over a hold with only heartbeats flowing; then a short
 * trickle of messages through every session's store path, every one echoed exactly once. The
 * baseline is a bare `ws` server child holding as many connections with `ws` pings at the same
 * interval (spread over the interval as the gateway spreads its own), measured the same way in the
 * same run. Figures only: nothing here is asserted by the tests beyond the run working.
 */
import { RedisProcess } from '../../packages/server/src/test-support/processes.js';
import { type MeasuredCost, type Projection, project } from '../capacity-estimate.js';
import { type KernelLimits, kernelLimits } from '../capacity-limits.js';
import {
  type CapacityPhase,
  KB,
  measure,
  type PhaseContext,
  Processes,
  type Timing,
  TRICKLE_PERIOD_MS,
} from '../capacity-phase.js';
import { capacityText } from '../capacity-report.js';
import { row, type SuiteContext, type SuiteResult, type TargetRow } from '../suite.js';

/** Target 1: 15,000 sessions, ≤ 10 KB of RSS each above the idle process, loop delay p99 ≤ 20 ms. */
const TARGET_SESSIONS = 15_000;
const MAX_RSS_KB_PER_SESSION = 10;
const MAX_LOOP_P99_MS = 20;
/** The scale the report projects to ("state on paper what 100,000 per instance would need"). */
const PROJECTED_SESSIONS = 100_000;

const WORKERS = 4;
/**
 * Heartbeat interval, hold and trickle windows. 5 s (the default is 15 s) puts three pings per
 * session into the 15 s hold; quick mode uses 1 s so its short hold sees pings too.
 */
const FULL_TIMING: Timing = { heartbeatMs: 5_000, holdMs: 15_000, trickleMs: 5_000, afterGcMs: 1_000 };
const QUICK_TIMING: Timing = { heartbeatMs: 1_000, holdMs: 2_000, trickleMs: 1_000, afterGcMs: 250 };
/** The heartbeat timeout: three missed pings, as the default (15 s / 45 s). */
const HEARTBEAT_TIMEOUTS = 3;

export interface CapacityData {
  readonly sessions: number;
  readonly workers: number;
  readonly heartbeatMs: number;
  readonly holdMs: number;
  readonly trickleMs: number;
  readonly trickleMessagesPerSessionPerMinute: number;
  readonly raw: CapacityPhase;
  readonly gateway: CapacityPhase;
  readonly kernel: KernelLimits;
  readonly projection: Projection;
}

function split(total: number, parts: number): number[] {
  const n = Math.min(parts, total);
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

function targetRows(data: CapacityData, judged: boolean): TargetRow[] {
  const { raw, gateway } = data;
  const positive = (label: string, value: number) => (value > 0 ? { label, value } : undefined);
  return [
    row(
      {
        target: '1. capacity',
        figure: `sessions held by one gateway+redis process (asked ${data.sessions.toLocaleString('en-US')})`,
        measured: Math.min(gateway.reached, gateway.heldAfter),
        unit: '',
        goal: `≥ ${TARGET_SESSIONS.toLocaleString('en-US')}`,
        baseline: positive('raw ws', Math.min(raw.reached, raw.heldAfter)),
      },
      { min: TARGET_SESSIONS, judged },
    ),
    row(
      {
        target: '1. capacity',
        figure: 'RSS per session above the idle process, after GC',
        measured: gateway.rssPerSessionKB,
        unit: 'KB',
        goal: `≤ ${MAX_RSS_KB_PER_SESSION} KB`,
        baseline: positive('raw ws per connection', raw.rssPerSessionKB),
      },
      { max: MAX_RSS_KB_PER_SESSION, judged },
    ),
    row(
      {
        target: '1. capacity',
        figure: 'JS heap per session, after GC',
        measured: gateway.heapPerSessionKB,
        unit: 'KB',
        goal: 'reported',
        baseline: positive('raw ws per connection', raw.heapPerSessionKB),
      },
      { judged: false },
    ),
    row(
      {
        target: '1. capacity',
        figure: `event-loop delay p99 while holding, heartbeat ${data.heartbeatMs / 1000} s`,
        measured: gateway.hold.loopDelayMs.p99,
        unit: 'ms',
        goal: `≤ ${MAX_LOOP_P99_MS} ms`,
        baseline: positive('raw ws', raw.hold.loopDelayMs.p99),
      },
      { max: MAX_LOOP_P99_MS, judged },
    ),
    row(
      {
        target: '1. capacity',
        figure: 'event-loop wait p99 weighted by time (a random moment) while holding',
        measured: gateway.hold.loopWait.p99Ms,
        unit: 'ms',
        goal: 'reported',
        baseline: positive('raw ws', raw.hold.loopWait.p99Ms),
      },
      { judged: false },
    ),
    row(
      {
        target: '1. capacity',
        figure: 'gateway CPU while holding, % of one core',
        measured: gateway.holdCpuPct,
        unit: '%',
        goal: 'reported',
        baseline: positive('raw ws', raw.holdCpuPct),
      },
      { judged: false },
    ),
    row(
      {
        target: '1. capacity',
        figure: 'trickle messages missing or duplicated',
        measured:
          gateway.messages.missing +
          gateway.messages.duplicates +
          raw.messages.missing +
          raw.messages.duplicates,
        unit: '',
        goal: '= 0',
        baseline: undefined,
      },
      { max: 0, judged: true },
    ),
  ];
}

export async function capacitySuite(ctx: SuiteContext): Promise<SuiteResult> {
  const { options } = ctx;
  const sessions = options.capacitySessions;
  const timing = options.quick ? QUICK_TIMING : FULL_TIMING;
  const shares = split(sessions, WORKERS);
  const processes = new Processes();
  const stop = () => void processes.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  let raw: CapacityPhase;
  let gateway: CapacityPhase;
  try {
    const workers = shares.map((_, i) =>
      processes.start(new URL('../capacity-worker.ts', import.meta.url), `capacity load ${i + 1}`, {}),
    );
    const run: PhaseContext = {
      progress: ctx.progress,
      signal: ctx.signal,
      runId: ctx.runId,
      processes,
      workers,
      shares,
      timing,
    };
    raw = await measure(run, {
      server: 'raw',
      label: 'raw ws',
      module: new URL('../capacity-raw-server.ts', import.meta.url),
      env: { CAPACITY_HEARTBEAT_MS: String(timing.heartbeatMs) },
      redis: undefined,
    });
    ctx.signal.throwIfAborted();
    processes.redis = await RedisProcess.start();
    gateway = await measure(run, {
      server: 'gateway',
      label: 'gateway+redis',
      module: new URL('../capacity-gateway.ts', import.meta.url),
      env: {
        REDIS_URL: processes.redis.url,
        ZERODROP_HEARTBEAT: String(timing.heartbeatMs),
        ZERODROP_HEARTBEAT_TIMEOUT: String(timing.heartbeatMs * HEARTBEAT_TIMEOUTS),
        // Raised for the run: every session of the run, all of them from 127.0.0.1.
        ZERODROP_MAX_CONNECTIONS: String(sessions),
        ZERODROP_MAX_CONNECTIONS_PER_IP: String(sessions),
      },
      redis: processes.redis,
    });
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await processes.stop();
  }

  const kernel = kernelLimits();
  const cost: MeasuredCost = {
    idleRssBytes: gateway.idle.rss,
    idleHeapUsedBytes: gateway.idle.heapUsed,
    oneTimeGrowthBytes: gateway.youngGrowthBytes,
    rssPerSessionBytes: gateway.rssPerSessionLessYoungKB * KB,
    heapPerSessionBytes: gateway.heapPerSessionKB * KB,
    heapLimitBytes: gateway.idle.heapLimit,
    fullGcMs: gateway.after.gcMs,
    heapUsedBytes: gateway.after.heapUsed,
    fdOverhead: (gateway.loaded.openFds ?? gateway.reached) - gateway.reached,
    cpuUsPerHeartbeat: gateway.cpuUsPerHeartbeat,
    heartbeatMs: timing.heartbeatMs,
    redisBytesPerSession: gateway.redis?.bytesPerSession,
  };
  const data: CapacityData = {
    sessions,
    workers: shares.length,
    heartbeatMs: timing.heartbeatMs,
    holdMs: timing.holdMs,
    trickleMs: timing.trickleMs,
    trickleMessagesPerSessionPerMinute: 60_000 / TRICKLE_PERIOD_MS,
    raw,
    gateway,
    kernel,
    projection: project(cost, kernel, PROJECTED_SESSIONS),
  };
  const lost = [raw, gateway].reduce((n, p) => n + p.messages.missing + p.messages.duplicates, 0);
  ctx.progress(
    `  ${gateway.reached.toLocaleString('en-US')} sessions: ${gateway.rssPerSessionKB.toFixed(1)} KB RSS each ` +
      `(raw ws ${raw.rssPerSessionKB.toFixed(1)} KB), loop delay p99 ${gateway.hold.loopDelayMs.p99.toFixed(1)} ms ` +
      `(raw ws ${raw.hold.loopDelayMs.p99.toFixed(1)} ms); ${lost === 0 ? 'every message once' : 'MESSAGES LOST OR DUPLICATED'}`,
  );
  return {
    suite: 'capacity',
    targets: targetRows(data, !options.quick),
    ok: lost === 0,
    text: capacityText(data),
    data,
  };
}
