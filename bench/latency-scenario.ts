/**
 * One paced (latency) scenario against one server: N devices in worker processes, each sending and
 * receiving `ratePerSec` probes a second, open loop, for a warm-up and a measured window that every
 * process reads off the shared clock. Collects the one-way latencies of both directions (device→
 * application timed in the server child's handler, application→device timed at the device), the RTT
 * the server measured itself, CPU over the window, and both directions' books: every probe sent must
 * have arrived exactly once, in order. Workers never outlive the scenario.
 */
import {
  BenchChild,
  CONNECT_TIMEOUT_MS,
  REPLY_TIMEOUT_MS,
  WORKER_CLOSE_MS,
  WORKER_START_MS,
} from './child.js';
import { sharedClockMs } from './clock.js';
import type { ConnectedMessage } from './ipc.js';
import type { ServerKind } from './options.js';
import {
  compareDeliveries,
  type DeliveryCount,
  deliveredOnce,
  type Percentiles,
  percentiles,
  type ReceivedCounts,
} from './pacing.js';
import { type CpuShares, cpuShares, readUsage, type ServerUnderTest } from './servers.js';
import type {
  PacedFinishMessage,
  PacedReportMessage,
  PacedResultMessage,
  PacedRunMessage,
  PacedSentMessage,
  PacedStartedMessage,
  PacedStartMessage,
  PacedWindow,
} from './workload-ipc.js';

export interface LatencyPlan {
  readonly devices: number;
  readonly ratePerSec: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly workers: number;
  /** How often the raw baseline pings each connection (the gateway's heartbeat, for the same rate). */
  readonly pingEveryMs: number;
  /** Device ids are `<idPrefix>-<i>`. */
  readonly idPrefix: string;
}

export interface LatencyResult extends CpuShares {
  readonly server: ServerKind;
  readonly label: string;
  readonly devices: number;
  readonly ratePerSec: number;
  readonly windowMs: number;
  /** One-way device→application latency of the probes sent in the window. */
  readonly deviceToApp: Percentiles;
  /** One-way application→device latency of the pushes sent in the window. */
  readonly appToDevice: Percentiles;
  /** RTT samples the server measured itself in the window (gateway pings; raw: WebSocket pings). */
  readonly serverRtt: Percentiles | undefined;
  /** The gateway's own summary of its recent RTT window at the end (`rtt_p50/95/99_ms`). */
  readonly ownRtt: { readonly p50: number; readonly p95: number; readonly p99: number } | undefined;
  readonly deviceToAppCount: DeliveryCount;
  readonly appToDeviceCount: DeliveryCount;
  readonly serverLoopDelayP99Ms: number;
  /** The resume store's command latency at the end of the window (gateway+redis; memory: 0). */
  readonly storeLatencyMs: { readonly p50: number; readonly p99: number } | undefined;
  /** How late the server's and the devices' sends left against their schedule (p99 ms). */
  readonly serverLatenessP99Ms: number;
  readonly deviceLatenessP99Ms: number;
  readonly connectMs: number;
  readonly drainMs: number;
  readonly reconnects: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly pushFailures: number;
  readonly firstPushFailure: string | undefined;
  /** Everything sent arrived exactly once, both ways, and no probe was left unacknowledged. */
  readonly ok: boolean;
}

/** Between telling everyone the window and its start: every process must have the message by then. */
const START_MARGIN_MS = 250;
/** After the window, what the last probes and pushes may take to arrive before they count as missing. */
const DRAIN_TIMEOUT_MS = 10_000;

const sleepUntil = (t: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, t - sharedClockMs())));

/** Split `ids` over `n` workers round-robin. */
export function deal<T>(ids: readonly T[], n: number): T[][] {
  const hands = Array.from({ length: Math.min(n, ids.length) }, () => [] as T[]);
  for (const [i, id] of ids.entries()) hands[i % hands.length]!.push(id);
  return hands;
}

function merged<V>(maps: readonly Map<string, V>[]): Map<string, V> {
  const out = new Map<string, V>();
  for (const m of maps) for (const [k, v] of m) out.set(k, v);
  return out;
}

export async function runLatencyScenario(server: ServerUnderTest, plan: LatencyPlan): Promise<LatencyResult> {
  const ids = Array.from({ length: plan.devices }, (_, i) => `${plan.idPrefix}-${i}`);
  const hands = deal(ids, plan.workers);
  const workers: BenchChild[] = [];
  try {
    for (const [i, hand] of hands.entries()) {
      const worker = BenchChild.start(new URL('./paced-worker.ts', import.meta.url), {
        name: `paced worker ${i + 1} (${server.label}, ${plan.devices} devices)`,
      });
      workers.push(worker);
      worker.send<PacedRunMessage>({
        type: 'paced-run',
        plan: {
          target: server.target,
          url: server.url,
          ids: hand,
          ratePerSec: plan.ratePerSec,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        },
      });
    }
    const connected = await Promise.all(
      workers.map((w) => w.next<ConnectedMessage>('connected', WORKER_START_MS + CONNECT_TIMEOUT_MS)),
    );
    const startAt = sharedClockMs() + START_MARGIN_MS;
    const window: PacedWindow = {
      startAt,
      measureFrom: startAt + plan.warmupMs,
      measureUntil: startAt + plan.warmupMs + plan.durationMs,
    };
    const start: PacedStartMessage = {
      type: 'paced-start',
      ...window,
      ratePerSec: plan.ratePerSec,
      pingEveryMs: plan.pingEveryMs,
    };
    const started = await server.child.request<PacedStartedMessage>(start, 'paced-started', REPLY_TIMEOUT_MS);
    if (started.devices !== plan.devices) {
      throw new Error(`${server.label} pushes to ${started.devices} devices, ${plan.devices} connected`);
    }
    for (const w of workers) w.send({ type: 'paced-go', ...window });
    await sleepUntil(window.measureFrom);
    const before = await readUsage(server);
    await sleepUntil(window.measureUntil);
    const after = await readUsage(server);
    const sent = await server.child.request<PacedSentMessage>(
      { type: 'paced-stop' },
      'paced-sent',
      REPLY_TIMEOUT_MS,
    );
    for (const [i, w] of workers.entries()) {
      const expected = new Map(hands[i]!.map((id) => [id, sent.pushed.get(id) ?? 0]));
      w.send<PacedFinishMessage>({ type: 'paced-finish', expected, timeoutMs: DRAIN_TIMEOUT_MS });
    }
    const results = await Promise.all(
      workers.map(async (w) => {
        const m = await w.next<PacedResultMessage>('paced-result', DRAIN_TIMEOUT_MS + WORKER_CLOSE_MS);
        return m.result;
      }),
    );
    await Promise.all(workers.map((w) => w.exited(5_000)));
    const report = await server.child.request<PacedReportMessage>(
      { type: 'paced-report' },
      'paced-report',
      REPLY_TIMEOUT_MS,
    );

    const windowMs = plan.durationMs;
    const sum = (f: (r: (typeof results)[number]) => number) => results.reduce((s, r) => s + f(r), 0);
    const deviceToAppCount = compareDeliveries(
      merged(results.map((r) => r.sent)),
      report.inbound,
      report.malformed,
    );
    const appToDeviceCount = compareDeliveries(
      sent.pushed,
      merged<ReceivedCounts>(results.map((r) => r.inbound)),
      sum((r) => r.malformed),
    );
    const cpu = cpuShares(
      before,
      after,
      windowMs,
      sum((r) => r.cpuUs),
    );
    const unacked = sum((r) => r.unacked);
    return {
      server: server.kind,
      label: server.kind === 'raw' ? 'raw ws' : server.label,
      devices: plan.devices,
      ratePerSec: plan.ratePerSec,
      windowMs,
      deviceToApp: percentiles(report.deviceToAppMs),
      appToDevice: percentiles(results.map((r) => r.appToDeviceMs)),
      serverRtt: report.rttMs ? percentiles(report.rttMs) : undefined,
      ownRtt: report.ownRtt,
      deviceToAppCount,
      appToDeviceCount,
      ...cpu,
      serverLoopDelayP99Ms: after.server.loopDelayP99Ms,
      storeLatencyMs: after.server.storeLatencyMs,
      serverLatenessP99Ms: sent.latenessP99Ms,
      deviceLatenessP99Ms: Math.max(...results.map((r) => r.latenessP99Ms)),
      connectMs: Math.max(...connected.map((c) => c.connectMs)),
      drainMs: Math.max(...results.map((r) => r.drainMs)),
      reconnects: sum((r) => r.reconnects),
      errors: sum((r) => r.errors),
      firstError: results.find((r) => r.firstError !== undefined)?.firstError,
      pushFailures: sent.failures,
      firstPushFailure: sent.firstFailure,
      ok:
        deliveredOnce(deviceToAppCount) &&
        deliveredOnce(appToDeviceCount) &&
        deviceToAppCount.outOfOrder === 0 &&
        appToDeviceCount.outOfOrder === 0 &&
        unacked === 0 &&
        sent.failures === 0,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.stop()));
  }
}
