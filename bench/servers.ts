/**
 * The servers under test, each in its own child process: the raw `ws` echo server, the gateway with
 * the memory store, and the gateway with the Redis store on a private `redis-server` (started here on
 * a free loopback port, stopped by PID; the machine's own Redis is never touched). `stop` ends all of
 * them, also after a failed start.
 */
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import { BenchChild } from './child.js';
import { type MachineTicks, machineTicks, processCpuUs } from './cpu.js';
import type { ReadyMessage, Target, UsageMessage } from './ipc.js';
import type { ServerKind } from './options.js';

/** tsx compiles on first start, and two or three children start at once on two cores. */
const READY_TIMEOUT_MS = 60_000;
const USAGE_REPLY_TIMEOUT_MS = 10_000;

export const SERVER_LABELS: Record<ServerKind, string> = {
  raw: 'raw ws echo',
  memory: 'gateway+memory',
  redis: 'gateway+redis',
};

export interface ServerUnderTest {
  readonly kind: ServerKind;
  readonly label: string;
  readonly target: Target;
  readonly url: string;
  readonly child: BenchChild;
  /** The `redis-server` behind a Redis gateway. */
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

export class ServerSet {
  readonly servers: ServerUnderTest[] = [];
  readonly #children: BenchChild[] = [];
  #redis: RedisProcess | undefined;

  /** Start the servers of `kinds` at once; on any failure what did start is left for `stop`. */
  async start(kinds: readonly ServerKind[], cpuProfDir: string | undefined): Promise<void> {
    let redisUrl: string | undefined;
    if (kinds.includes('redis')) {
      this.#redis = await RedisProcess.start();
      redisUrl = this.#redis.url;
    }
    const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
    const starting = kinds.map(async (kind): Promise<ServerUnderTest> => {
      const isGateway = kind !== 'raw';
      const child = BenchChild.start(
        new URL(isGateway ? './gateway-server.ts' : './echo-server.ts', import.meta.url),
        {
          name: SERVER_LABELS[kind],
          env: kind === 'redis' && redisUrl ? { REDIS_URL: redisUrl } : {},
          nodeFlags: isGateway ? profile : [],
        },
      );
      this.#children.push(child);
      const ready = await child.next<ReadyMessage>('ready', READY_TIMEOUT_MS);
      return {
        kind,
        label: SERVER_LABELS[kind],
        target: isGateway ? 'gateway' : 'raw',
        url: ready.url,
        child,
        redisPid: kind === 'redis' ? this.#redis?.pid : undefined,
      };
    });
    const settled = await Promise.allSettled(starting);
    for (const s of settled) if (s.status === 'fulfilled') this.servers.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    this.servers.sort((a, b) => kinds.indexOf(a.kind) - kinds.indexOf(b.kind));
  }

  /** Stop every child (SIGTERM, then SIGKILL) and the Redis this set started. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#children.map((c) => c.stop()));
    const redis = this.#redis;
    this.#redis = undefined;
    await redis?.destroy();
  }
}
