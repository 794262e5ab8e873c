/**
 * CPU time the benchmark cannot ask a Node child for: a `redis-server`'s, and the whole machine's (so a
 * run can tell when something besides its own processes was using the cores). Linux `/proc` only;
 * elsewhere every reading is undefined and the report shows a dash.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** CPU time (µs) of process `pid` so far, from /proc/<pid>/schedstat (ns spent on a CPU). */
export function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const ns = Number(readProc(`/proc/${pid}/schedstat`)?.split(' ')[0]);
  return Number.isFinite(ns) ? ns / 1000 : undefined;
}

/** Busy and total time of all cores together, in kernel ticks, from the `cpu` line of /proc/stat. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

export function machineTicks(): MachineTicks | undefined {
  const line = readProc('/proc/stat')?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  const total = busy + idle! + iowait!;
  return Number.isFinite(total) ? { busy, total } : undefined;
}

/** Machine CPU use between two readings, in percent of ONE core (so 2 saturated cores read 200%). */
export function machineBusyPct(
  from: MachineTicks | undefined,
  to: MachineTicks | undefined,
): number | undefined {
  if (!from || !to || to.total <= from.total) return undefined;
  return ((to.busy - from.busy) / (to.total - from.total)) * cpus().length * 100;
}
