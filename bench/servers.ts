/**
 * The servers under test, each in its own child process: the raw `ws` echo server, the gateway with
 * the memory store, the gateway with the Redis store, and Socket.IO with the Redis Streams adapter;
 * each Redis-backed server gets its own private `redis-server` (started here on a free loopback port,
 * stopped by PID; the machine's own Redis is never touched), so one server's Redis CPU is its own.
 * `stop` ends all of them, also after a failed start.
 */
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import { BenchChild, READY_TIMEOUT_MS } from './child.js';
import { type MachineTicks, machineBusyPct, machineTicks, processCpuUs } from './cpu.js';
import type { ReadyMessage, Target, UsageMessage } from './ipc.js';
import type { ServerKind } from './options.js';

const USAGE_REPLY_TIMEOUT_MS = 10_000;

export const SERVER_LABELS: Record<ServerKind, string> = {
  raw: 'raw ws echo',
  memory: 'gateway+memory',
  redis: 'gateway+redis',
  socketio: 'Socket.IO+redis',
};

const SERVER_MODULES: Record<ServerKind, string> = {
  raw: './echo-server.ts',
  memory: './gateway-server.ts',
  redis: './gateway-server.ts',
  socketio: './socketio-server.ts',
};

const TARGETS: Record<ServerKind, Target> = {
  raw: 'raw',
  memory: 'gateway',
  redis: 'gateway',
  socketio: 'socketio',
};

const usesRedis = (kind: ServerKind) => kind === 'redis' || kind === 'socketio';

export interface ServerUnderTest {
  readonly kind: ServerKind;
  readonly label: string;
  readonly target: Target;
  readonly url: string;
  readonly child: BenchChild;
  /** The `redis-server` behind a Redis gateway or Socket.IO. */
  readonly redisPid: number | undefined;
}

/** One reading of a server's usage, its Redis's CPU time and the machine's, taken together. */
export interface UsageReading {
  readonly server: UsageMessage;
  readonly redisCpuUs: number | undefined;
  readonly machine: MachineTicks | undefined;
}

export async function readUsage(server: ServerUnderTest): Promise<UsageReading> {
  const usage = await server.child.request<UsageMessage>({ type: 'usage' }, 'usage', USAGE_REPLY_TIMEOUT_MS);
  return { server: usage, redisCpuUs: processCpuUs(server.redisPid), machine: machineTicks() };
}

/** Where the CPU went in a window, in percent of one core (the machine has `cpus × 100%`). */
export interface CpuShares {
  readonly serverCpuPct: number;
  readonly redisCpuPct: number | undefined;
  /** All load workers together. */
  readonly loadCpuPct: number;
  /** Everything else on the machine (other processes, kernel time not charged to ours). */
  readonly otherCpuPct: number | undefined;
}

/**
 * The server's, its Redis's and the load's CPU between two readings, and what the rest of the machine
 * used meanwhile. `loadCpuUs` is the workers' own CPU time over `loadWindowMs`.
 */
export function cpuShares(
  before: UsageReading,
  after: UsageReading,
  windowMs: number,
  loadCpuUs: number,
  loadWindowMs = windowMs,
): CpuShares {
  const pct = (us: number, ms: number) => (us / 1000 / ms) * 100;
  const serverCpuPct = pct(after.server.cpuUs - before.server.cpuUs, windowMs);
  const redisCpuPct =
    before.redisCpuUs !== undefined && after.redisCpuUs !== undefined
      ? pct(after.redisCpuUs - before.redisCpuUs, windowMs)
      : undefined;
  const loadCpuPct = pct(loadCpuUs, loadWindowMs);
  const machinePct = machineBusyPct(before.machine, after.machine);
  return {
    serverCpuPct,
    redisCpuPct,
    loadCpuPct,
    otherCpuPct:
      machinePct === undefined
        ? undefined
        : Math.max(0, machinePct - serverCpuPct - (redisCpuPct ?? 0) - loadCpuPct),
  };
}

export class ServerSet {
  readonly servers: ServerUnderTest[] = [];
  readonly #children: BenchChild[] = [];
  readonly #redis: RedisProcess[] = [];

  /**
   * Start the servers of `kinds` at once; on any failure what did start is left for `stop`. `env` goes
   * to every gateway child (e.g. `ZERODROP_HEARTBEAT`).
   */
  async start(
    kinds: readonly ServerKind[],
    cpuProfDir: string | undefined,
    env: Record<string, string> = {},
  ): Promise<void> {
    const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
    const starting = kinds.map(async (kind): Promise<ServerUnderTest> => {
      let redis: RedisProcess | undefined;
      if (usesRedis(kind)) {
        redis = await RedisProcess.start();
        this.#redis.push(redis);
      }
      const isGateway = TARGETS[kind] === 'gateway';
      const child = BenchChild.start(new URL(SERVER_MODULES[kind], import.meta.url), {
        name: SERVER_LABELS[kind],
        env: { ...(isGateway ? env : {}), ...(redis ? { REDIS_URL: redis.url } : {}) },
        nodeFlags: kind === 'raw' ? [] : profile,
      });
      this.#children.push(child);
      const ready = await child.next<ReadyMessage>('ready', READY_TIMEOUT_MS);
      return {
        kind,
        label: SERVER_LABELS[kind],
        target: TARGETS[kind],
        url: ready.url,
        child,
        redisPid: redis?.pid,
      };
    });
    const settled = await Promise.allSettled(starting);
    for (const s of settled) if (s.status === 'fulfilled') this.servers.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    this.servers.sort((a, b) => kinds.indexOf(a.kind) - kinds.indexOf(b.kind));
  }

  /** Stop every child (SIGTERM, then SIGKILL) and every Redis this set started. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#children.map((c) => c.stop()));
    const redis = this.#redis.splice(0);
    await Promise.allSettled(redis.map((r) => r.destroy()));
  }
}
