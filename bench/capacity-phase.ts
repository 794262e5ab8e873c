/**
 * One server measured by the capacity suite, in its own child process: its memory idle (after a full
 * GC), the load workers opening their shares of connections, its memory with them held, a hold with
 * only heartbeats flowing (CPU, event-loop delay, heartbeats, its Redis's memory and CPU), a short
 * trickle of probes each echoed exactly once, and every connection closed again. The server is
 * stopped before `measure` returns or throws; the workers outlive it, for the next server.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { RedisProcess } from '../packages/server/src/test-support/processes.js';
import type {
  CapacityTarget,
  MemoryMessage,
  OpenedMessage,
  OpenMessage,
  SettledMessage,
  SettleMessage,
  TrickleMessage,
  TrickleResult,
  WindowMessage,
} from './capacity-ipc.js';
import type { FileLimit } from './capacity-limits.js';
import {
  BenchChild,
  CONNECT_TIMEOUT_MS,
  READY_TIMEOUT_MS,
  REPLY_TIMEOUT_MS,
  WORKER_START_MS,
} from './child.js';
import { machineBusyPct, machineTicks, processCpuUs } from './cpu.js';
import type { ReadyMessage } from './ipc.js';

/** Heartbeat interval of both servers, and the lengths of the two measured windows. */
export interface Timing {
  readonly heartbeatMs: number;
  readonly holdMs: number;
  readonly trickleMs: number;
  /**
   * Quiet time between a memory reading and the window after it: the reading's full GC stalls the
   * loop, and the I/O that piles up meanwhile must not count as the window's loop delay.
   */
  readonly afterGcMs: number;
}

/**
 * Dials in flight per worker (4 × 64 = 256 at once): under the gateway's 500 pending handshakes and
 * Node's accept backlog of 511, so no connection is refused for arriving in a burst.
 */
const DIAL_CONCURRENCY = 64;

/** Descriptors a server needs beyond one per connection: the listener, Redis, stdio, Node's own. */
const FD_MARGIN = 256;
/** In the trickle window every session sends one message per this period, on average. */
export const TRICKLE_PERIOD_MS = 30_000;

const SETTLE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 30_000;

export const KB = 1024;

/** One server's figures: the gateway's or the raw baseline's. */
export interface CapacityPhase {
  readonly server: CapacityTarget;
  readonly label: string;
  readonly requested: number;
  /** Connections the server held once every worker had opened its share (gateway: welcomed). */
  readonly reached: number;
  /** Connections the server still held after the hold. */
  readonly heldAfter: number;
  readonly rampMs: number;
  readonly idle: MemoryMessage;
  /** Right after the ramp. */
  readonly loaded: MemoryMessage;
  /** After the hold; the per-session figures use this one. */
  readonly after: MemoryMessage;
  readonly rssPerSessionKB: number;
  readonly heapPerSessionKB: number;
  /**
   * How much V8's young generation grew from idle to held: it grows once under load (to 32 MB by
   * default) and not with every session, so it is not part of the cost of one more session.
   */
  readonly youngGrowthBytes: number;
  /** RSS per session above the idle process, less the young generation's growth. */
  readonly rssPerSessionLessYoungKB: number;
  /** Memory of C++ objects bound to JS objects (sockets' Buffers among them), per session. */
  readonly externalPerSessionKB: number;
  /** Only heartbeats flowing. */
  readonly hold: WindowMessage;
  readonly holdCpuPct: number;
  readonly cpuUsPerHeartbeat: number;
  readonly redisCpuPct: number | undefined;
  /** Everything on the machine besides the server and its Redis (the load workers, other processes). */
  readonly restOfMachineCpuPct: number | undefined;
  /** 1-minute load average when the hold started. */
  readonly loadAverage: number;
  /** Heartbeats plus one message per session per TRICKLE_PERIOD_MS. */
  readonly trickle: WindowMessage;
  readonly trickleCpuPct: number;
  readonly messages: TrickleResult;
  readonly workerFileLimit: FileLimit | undefined;
  readonly redis: RedisFigures | undefined;
}

export interface RedisFigures {
  readonly usedMemoryIdle: number;
  readonly usedMemoryLoaded: number;
  readonly keysIdle: number;
  readonly keysLoaded: number;
  readonly bytesPerSession: number;
  readonly keysPerSession: number;
}

function sumResults(results: readonly TrickleResult[]): TrickleResult {
  return results.reduce((a, r) => ({
    sent: a.sent + r.sent,
    echoed: a.echoed + r.echoed,
    missing: a.missing + r.missing,
    duplicates: a.duplicates + r.duplicates,
    reconnects: a.reconnects + r.reconnects,
    errors: a.errors + r.errors,
    firstError: a.firstError ?? r.firstError,
    cpuUs: a.cpuUs + r.cpuUs,
  }));
}

async function redisFigures(url: string): Promise<{ usedMemory: number; keys: number }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    const info = await redis.info('memory');
    const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
    return { usedMemory, keys: await redis.dbsize() };
  } finally {
    redis.disconnect();
  }
}

function requireFiles(name: string, limit: FileLimit | undefined, needed: number): void {
  if (limit && limit.soft < needed) {
    throw new Error(
      `${name} may open ${limit.soft} files (hard limit ${limit.hard}) and needs about ${needed}: ` +
        'raise the hard limit (ulimit -Hn, or LimitNOFILE for a service) or run fewer --capacity-sessions',
    );
  }
}

export interface ServerSpec {
  readonly server: CapacityTarget;
  readonly label: string;
  readonly module: URL;
  readonly env: Record<string, string>;
  readonly redis: RedisProcess | undefined;
}

/** Everything the suite started, so that an abort or a failure stops all of it. */
export class Processes {
  readonly children: BenchChild[] = [];
  redis: RedisProcess | undefined;

  start(module: URL, name: string, env: Record<string, string>, nodeFlags: string[] = []): BenchChild {
    const child = BenchChild.start(module, { name, env, nodeFlags, raiseFileLimit: true });
    this.children.push(child);
    return child;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.children.map((c) => c.stop()));
    const redis = this.redis;
    this.redis = undefined;
    await redis?.destroy();
  }
}

/** The workers open `shares` more connections to `url`; resolves once every one is open (welcomed). */
async function openShares(
  workers: readonly BenchChild[],
  spec: ServerSpec,
  url: string,
  shares: readonly number[],
  idPrefix: string,
): Promise<OpenedMessage[]> {
  return Promise.all(
    workers.map((w, i) => {
      const open: OpenMessage = {
        type: 'open',
        plan: {
          target: spec.server,
          url,
          connections: shares[i]!,
          idPrefix: `${idPrefix}-${i}`,
          dialConcurrency: DIAL_CONCURRENCY,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        },
      };
      return w.request<OpenedMessage>(open, 'opened', CONNECT_TIMEOUT_MS + WORKER_START_MS);
    }),
  );
}

/** Committed size of V8's young generation (new space). */
function newSpace(m: MemoryMessage): number {
  return m.heapSpaces.find((s) => s.name === 'new_space')?.size ?? 0;
}

/** CPU time of the server (from its window) and of its Redis, in percent of one core over the window. */
const cpuPct = (cpuUs: number, ms: number) => (cpuUs / 1000 / ms) * 100;

/** What every server of one run is measured with. */
export interface PhaseContext {
  readonly progress: (line: string) => void;
  /** Aborted on Ctrl-C: the waits end at once (the suite stops the processes). */
  readonly signal: AbortSignal;
  readonly runId: string;
  readonly processes: Processes;
  readonly workers: readonly BenchChild[];
  /** Connections each worker opens. */
  readonly shares: readonly number[];
  readonly timing: Timing;
}

export async function measure(run: PhaseContext, spec: ServerSpec): Promise<CapacityPhase> {
  const { progress, signal, runId, processes, workers, shares, timing } = run;
  const sessions = shares.reduce((a, b) => a + b, 0);
  const server = processes.start(spec.module, spec.label, spec.env, ['--expose-gc']);
  const memory = () => server.request<MemoryMessage>({ type: 'memory' }, 'memory', REPLY_TIMEOUT_MS);
  const window = () => server.request<WindowMessage>({ type: 'window' }, 'window', REPLY_TIMEOUT_MS);
  const redis = async () => (spec.redis ? redisFigures(spec.redis.url) : undefined);
  try {
    const { url } = await server.next<ReadyMessage>('ready', READY_TIMEOUT_MS);
    const idle = await memory();
    requireFiles(spec.label, idle.fileLimit, sessions + FD_MARGIN);
    const redisIdle = await redis();

    progress(`  ${spec.label}: opening ${sessions.toLocaleString('en-US')} connections`);
    const rampFrom = performance.now();
    const opened = await openShares(workers, spec, url, shares, `capacity-${runId}-${spec.server}`);
    const rampMs = performance.now() - rampFrom;
    const loaded = await memory();
    const redisLoaded = await redis();

    progress(
      `  ${spec.label}: holding ${loaded.connections.toLocaleString('en-US')} for ${timing.holdMs / 1000} s`,
    );
    await sleep(timing.afterGcMs, undefined, { signal });
    const loadAverage = loadavg()[0]!;
    await window();
    const machineFrom = machineTicks();
    const redisFrom = processCpuUs(spec.redis?.pid);
    await sleep(timing.holdMs, undefined, { signal });
    const hold = await window();
    const machineBusy = machineBusyPct(machineFrom, machineTicks());
    const redisTo = processCpuUs(spec.redis?.pid);
    const after = await memory();

    await sleep(timing.afterGcMs, undefined, { signal });
    await window();
    const trickleMessage: TrickleMessage = { type: 'trickle', periodMs: TRICKLE_PERIOD_MS };
    for (const w of workers) w.send(trickleMessage);
    await sleep(timing.trickleMs, undefined, { signal });
    const trickle = await window();
    const settle: SettleMessage = { type: 'settle', timeoutMs: SETTLE_TIMEOUT_MS };
    const settled = await Promise.all(
      workers.map((w) => w.request<SettledMessage>(settle, 'settled', SETTLE_TIMEOUT_MS + REPLY_TIMEOUT_MS)),
    );
    await Promise.all(workers.map((w) => w.request({ type: 'close' }, 'closed', CLOSE_TIMEOUT_MS)));

    const perSession = (from: number, to: number) => (to - from) / sessions / KB;
    const youngGrowth = newSpace(after) - newSpace(idle);
    const holdCpuPct = cpuPct(hold.cpuUs, hold.ms);
    const redisCpuPct =
      redisFrom !== undefined && redisTo !== undefined ? cpuPct(redisTo - redisFrom, hold.ms) : undefined;
    return {
      server: spec.server,
      label: spec.label,
      requested: sessions,
      reached: loaded.connections,
      heldAfter: after.connections,
      rampMs,
      idle,
      loaded,
      after,
      rssPerSessionKB: perSession(idle.rss, after.rss),
      heapPerSessionKB: perSession(idle.heapUsed, after.heapUsed),
      youngGrowthBytes: youngGrowth,
      rssPerSessionLessYoungKB: perSession(idle.rss + youngGrowth, after.rss),
      externalPerSessionKB: perSession(idle.external, after.external),
      hold,
      holdCpuPct,
      cpuUsPerHeartbeat: hold.pongs > 0 ? hold.cpuUs / hold.pongs : Number.NaN,
      redisCpuPct,
      restOfMachineCpuPct:
        machineBusy === undefined ? undefined : machineBusy - holdCpuPct - (redisCpuPct ?? 0),
      loadAverage,
      trickle,
      trickleCpuPct: cpuPct(trickle.cpuUs, trickle.ms),
      messages: sumResults(settled.map((s) => s.result)),
      workerFileLimit: opened[0]?.fileLimit,
      redis:
        redisIdle && redisLoaded
          ? {
              usedMemoryIdle: redisIdle.usedMemory,
              usedMemoryLoaded: redisLoaded.usedMemory,
              keysIdle: redisIdle.keys,
              keysLoaded: redisLoaded.keys,
              bytesPerSession: (redisLoaded.usedMemory - redisIdle.usedMemory) / sessions,
              keysPerSession: (redisLoaded.keys - redisIdle.keys) / sessions,
            }
          : undefined,
    };
  } finally {
    await server.stop();
  }
}
