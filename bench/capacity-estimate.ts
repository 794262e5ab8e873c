/**
 * What a larger instance would need, computed from the capacity suite's own measurements: memory at the
 * measured cost per session, file descriptors, source addresses for the client side's ephemeral ports,
 * heartbeat CPU at the measured interval, and Redis memory. A linear projection, and said to be one:
 * it does not know where a cost stops being linear (GC pauses grow with the heap, for one).
 */
import type { KernelLimits } from './capacity-limits.js';

/** The gateway's cost per session, as measured in one run. */
export interface MeasuredCost {
  readonly idleRssBytes: number;
  readonly idleHeapUsedBytes: number;
  /** What grew once under load and not with the sessions (V8's young generation). */
  readonly oneTimeGrowthBytes: number;
  /** RSS above the idle process per session held, the one-time growth left out. */
  readonly rssPerSessionBytes: number;
  readonly heapPerSessionBytes: number;
  readonly heapLimitBytes: number;
  /** A forced full GC with the sessions held: how long it took, and the heap it went through. */
  readonly fullGcMs: number;
  readonly heapUsedBytes: number;
  /** Descriptors the gateway had open beyond one per connection (listener, Redis, stdio, Node's own). */
  readonly fdOverhead: number;
  /** Gateway CPU per heartbeat completed while the sessions were idle (sweeps and timers included), µs. */
  readonly cpuUsPerHeartbeat: number;
  readonly heartbeatMs: number;
  readonly redisBytesPerSession: number | undefined;
}

export interface Projection {
  readonly sessions: number;
  readonly rssBytes: number;
  readonly heapBytes: number;
  /** The projected heap exceeds V8's default limit: the gateway needs `--max-old-space-size`. */
  readonly heapOverLimit: boolean;
  /** A forced full GC's pause, in proportion to the heap it marks. */
  readonly fullGcMs: number;
  readonly fds: number;
  /** Client connections one source address can open to one ip:port (the ephemeral port range). */
  readonly portsPerSourceAddress: number | undefined;
  /** Source addresses (or gateway listening ports) the clients of one instance need. */
  readonly sourceAddresses: number | undefined;
  readonly heartbeatsPerSecond: number;
  /** Percent of one core, at the measured heartbeat interval. */
  readonly heartbeatCpuPct: number;
  readonly redisBytes: number | undefined;
}

export function project(cost: MeasuredCost, kernel: KernelLimits, sessions: number): Projection {
  const heapBytes = cost.idleHeapUsedBytes + cost.heapPerSessionBytes * sessions;
  const heartbeatsPerSecond = sessions / (cost.heartbeatMs / 1000);
  const ports = kernel.localPorts ? kernel.localPorts.to - kernel.localPorts.from + 1 : undefined;
  return {
    sessions,
    rssBytes: cost.idleRssBytes + cost.oneTimeGrowthBytes + cost.rssPerSessionBytes * sessions,
    heapBytes,
    heapOverLimit: heapBytes > cost.heapLimitBytes,
    fullGcMs: cost.heapUsedBytes > 0 ? (cost.fullGcMs * heapBytes) / cost.heapUsedBytes : Number.NaN,
    fds: sessions + cost.fdOverhead,
    portsPerSourceAddress: ports,
    sourceAddresses: ports ? Math.ceil(sessions / ports) : undefined,
    heartbeatsPerSecond,
    heartbeatCpuPct: (heartbeatsPerSecond * cost.cpuUsPerHeartbeat) / 1e4,
    redisBytes: cost.redisBytesPerSession === undefined ? undefined : cost.redisBytesPerSession * sessions,
  };
}
