/**
 * One scenario: N connections against one server, from load worker processes started for it alone.
 * The workers connect, start together on the parent's word, and report their counts and latency
 * samples; this module merges them into the scenario's figures and its correctness verdict, and reads
 * the server's (and Redis's) CPU time over the measured window. Workers never outlive the scenario.
 */
import { percentileOfSorted } from '@zerodrop/protocol';
import { BenchChild, CONNECT_TIMEOUT_MS, WORKER_CLOSE_MS, WORKER_START_MS } from './child.js';
import type {
  ConnectedMessage,
  ReplyMode,
  ReplyModeMessage,
  ResultMessage,
  RunMessage,
  WorkerPlan,
  WorkerResult,
} from './ipc.js';
import type { BenchOptions, ServerKind } from './options.js';
import { type CpuShares, cpuShares, readUsage, type ServerUnderTest, type UsageReading } from './servers.js';

/** Counts summed over the workers (see WorkerResult). */
type SummedCounts = Pick<
  WorkerResult,
  | 'sent'
  | 'received'
  | 'missing'
  | 'duplicates'
  | 'outOfOrder'
  | 'reconnects'
  | 'errors'
  | 'firstError'
  | 'samplesDropped'
>;

export interface ScenarioResult extends SummedCounts, CpuShares {
  readonly server: ServerKind;
  readonly label: string;
  /** How a gateway's echo application replied (undefined for the raw server). */
  readonly replyMode: ReplyMode | undefined;
  readonly connections: number;
  /** Echoes received per second inside the measured window, all connections. */
  readonly messagesPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Echoes inside the window (the latency sample). */
  readonly echoes: number;
  /** Slowest worker's time to open all its connections. */
  readonly connectMs: number;
  /** Slowest worker's wait for the last outstanding echoes after the window. */
  readonly drainMs: number;
  /** The server's event-loop delay p99 over the window: how long a ready callback waited. */
  readonly serverLoopDelayP99Ms: number;
  /** The resume store's command latency at the end of the window (its last commands; memory: 0). */
  readonly storeLatencyMs: { readonly p50: number; readonly p99: number } | undefined;
  /** Every counter sent came back exactly once. */
  readonly ok: boolean;
}

/** What a gateway child may take to switch its reply mode. */
const REPLY_MODE_MS = 5_000;

/** What the last outstanding echoes may take after the window before they count as missing. */
const DRAIN_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function split(total: number, parts: number): number[] {
  const n = Math.min(parts, total);
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

function mergeSorted(results: readonly WorkerResult[]): number[] {
  const all = new Float64Array(results.reduce((sum, r) => sum + r.latenciesMs.length, 0));
  let at = 0;
  for (const r of results) {
    all.set(r.latenciesMs, at);
    at += r.latenciesMs.length;
  }
  // A typed array sorts numerically in native code; the percentile helper takes a plain array.
  return Array.from(all.sort());
}

/**
 * Run one scenario; `idPrefix` makes device ids unique across the whole run. A gateway's echo
 * application replies as `replyMode` says.
 */
export async function runScenario(
  server: ServerUnderTest,
  connections: number,
  options: BenchOptions,
  idPrefix: string,
  replyMode?: ReplyMode,
): Promise<ScenarioResult> {
  if (replyMode) {
    const message: ReplyModeMessage = { type: 'reply-mode', mode: replyMode };
    await server.child.request(message, 'reply-mode-set', REPLY_MODE_MS);
  }
  const warmupMs = options.warmupS * 1000;
  const durationMs = options.durationS * 1000;
  const workers: BenchChild[] = [];
  try {
    const shares = split(connections, options.workers);
    for (const [i, share] of shares.entries()) {
      const worker = BenchChild.start(new URL('./load-worker.ts', import.meta.url), {
        name: `load worker ${i + 1} (${server.label}, ${connections} connections)`,
        nodeFlags: options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', `${options.cpuProfDir}/load`] : [],
      });
      workers.push(worker);
      const plan: WorkerPlan = {
        target: server.target,
        url: server.url,
        connections: share,
        idPrefix: `${idPrefix}-w${i}`,
        window: options.window,
        warmupMs,
        durationMs,
        drainTimeoutMs: DRAIN_TIMEOUT_MS,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
      };
      worker.send<RunMessage>({ type: 'run', plan });
    }
    const connected = await Promise.all(
      workers.map((w) => w.next<ConnectedMessage>('connected', WORKER_START_MS + CONNECT_TIMEOUT_MS)),
    );
    for (const w of workers) w.send({ type: 'start' });
    const startedAt = Date.now();
    await sleep(warmupMs);
    const before = await readUsage(server);
    const measuredFrom = Date.now();
    await sleep(startedAt + warmupMs + durationMs - Date.now());
    const after = await readUsage(server);
    const measuredMs = Date.now() - measuredFrom;
    const results = await Promise.all(
      workers.map(async (w) => {
        const m = await w.next<ResultMessage>('result', DRAIN_TIMEOUT_MS + WORKER_CLOSE_MS + 10_000);
        return m.result;
      }),
    );
    await Promise.all(workers.map((w) => w.exited(5_000)));
    return summarize(server, replyMode, connections, results, connected, before, after, measuredMs);
  } finally {
    await Promise.allSettled(workers.map((w) => w.stop()));
  }
}

function summarize(
  server: ServerUnderTest,
  replyMode: ReplyMode | undefined,
  connections: number,
  results: readonly WorkerResult[],
  connected: readonly ConnectedMessage[],
  before: UsageReading,
  after: UsageReading,
  measuredMs: number,
): ScenarioResult {
  const sum = (f: (r: WorkerResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const sorted = mergeSorted(results);
  const missing = sum((r) => r.missing);
  const duplicates = sum((r) => r.duplicates);
  const sent = sum((r) => r.sent);
  const received = sum((r) => r.received);
  const windowMs = results[0]?.windowMs ?? measuredMs;
  const cpu = cpuShares(
    before,
    after,
    measuredMs,
    sum((r) => r.cpuUs),
    windowMs,
  );
  return {
    server: server.kind,
    label: replyMode ? `${server.label}, reply ${replyMode}` : server.label,
    replyMode,
    connections,
    messagesPerSec: sum((r) => r.echoes / (r.windowMs / 1000)),
    p50Ms: percentileOfSorted(sorted, 50),
    p99Ms: percentileOfSorted(sorted, 99),
    maxMs: sorted.at(-1) ?? 0,
    echoes: sum((r) => r.echoes),
    sent,
    received,
    missing,
    duplicates,
    outOfOrder: sum((r) => r.outOfOrder),
    reconnects: sum((r) => r.reconnects),
    errors: sum((r) => r.errors),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    samplesDropped: sum((r) => r.samplesDropped),
    connectMs: Math.max(...connected.map((c) => c.connectMs)),
    drainMs: Math.max(...results.map((r) => r.drainMs)),
    ...cpu,
    serverLoopDelayP99Ms: after.server.loopDelayP99Ms,
    storeLatencyMs: after.server.storeLatencyMs,
    ok: missing === 0 && duplicates === 0 && sent === received && sent > 0,
  };
}
