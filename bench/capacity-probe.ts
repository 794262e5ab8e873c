/**
 * What the capacity suite reads inside its server children: memory after a full GC, open file
 * descriptors and the open-files limit, and, per measured window, CPU time, event-loop delay and
 * heartbeats. A server child calls `serveCapacityRequests` once. A GC blocks the
 * event loop, so the suite asks for `memory` only outside the windows whose loop delay it measures.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { MemoryMessage, WindowMessage } from './capacity-ipc.js';
import { fileLimit, openFds } from './capacity-limits.js';
import type { BenchMessage } from './child.js';
import { LoopWaitMeter } from './loop-wait.js';
import { fail, toParent } from './parent-channel.js';

/** `gc` exists when the child runs with --expose-gc. */
const gc = (globalThis as { gc?: () => void }).gc;

/** The loop-delay timer's period; what the histogram records includes it, so it is subtracted. */
const LOOP_SAMPLE_MS = 5;

/** What the server holds and has done, for the answers. */
export interface ServerCounts {
  readonly connections: number;
  readonly pongs: number;
  readonly storeLatencyMs?: WindowMessage['storeLatencyMs'];
}

function memory(counts: ServerCounts): MemoryMessage {
  // Twice: finalizers of the first collection release native memory the second one frees.
  const from = performance.now();
  gc?.();
  const gcMs = performance.now() - from;
  gc?.();
  const mem = process.memoryUsage();
  return {
    type: 'memory',
    collected: gc !== undefined,
    gcMs,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    heapLimit: getHeapStatistics().heap_size_limit,
    heapSpaces: getHeapSpaceStatistics().map((h) => ({
      name: h.space_name,
      size: h.space_size,
      used: h.space_used_size,
    })),
    openFds: openFds(),
    fileLimit: fileLimit(),
    connections: counts.connections,
    pongs: counts.pongs,
  };
}

/** Answer `memory` and `window` requests (see capacity-ipc.ts) for as long as the process lives. */
export function serveCapacityRequests(counts: () => ServerCounts): void {
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loopDelay.enable();
  const loopWait = new LoopWaitMeter(LOOP_SAMPLE_MS);
  const delayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_SAMPLE_MS);
  let windowFrom = { at: performance.now(), cpu: process.cpuUsage(), pongs: counts().pongs };
  process.on('message', (m: BenchMessage) => {
    if (m.type === 'memory') {
      void toParent(memory(counts())).catch(fail);
      return;
    }
    if (m.type !== 'window') return;
    const now = counts();
    const cpu = process.cpuUsage(windowFrom.cpu);
    const reply: WindowMessage = {
      type: 'window',
      ms: performance.now() - windowFrom.at,
      cpuUs: cpu.user + cpu.system,
      loopDelayMs: {
        p50: delayMs(loopDelay.percentile(50)),
        p99: delayMs(loopDelay.percentile(99)),
        max: delayMs(loopDelay.max),
      },
      loopWait: loopWait.take(),
      pongs: now.pongs - windowFrom.pongs,
      storeLatencyMs: now.storeLatencyMs,
    };
    loopDelay.reset();
    windowFrom = { at: performance.now(), cpu: process.cpuUsage(), pongs: now.pongs };
    void toParent(reply).catch(fail);
  });
}
