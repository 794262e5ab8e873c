/**
 * The process table, read from /proc: a process's identity (PID plus its start time, so a PID the
 * kernel has since given to another program is never mistaken for ours), its children (nginx's
 * workers), and signalling a process only while it is still the one we started.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks after boot (field 22 of /proc/<pid>/stat): unique with the PID. */
  readonly startTicks: number;
  /** The command line, for people reading the state file and for the second check. */
  readonly command: string;
}

/** Fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold spaces). */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // no such process (any more)
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** Who `pid` is now; undefined when no such process exists or it is a zombie. */
export function identify(pid: number): ProcessIdentity | undefined {
  const fields = statFields(pid);
  // fields[0] is the state; a zombie has exited and only waits for its parent to reap it.
  if (!fields || fields[0] === 'Z') return undefined;
  return { pid, startTicks: Number(fields[19]), command: commandLine(pid) };
}

/** Whether the process recorded as `who` still runs: same PID, same start time, same command. */
export function stillRunning(who: ProcessIdentity): boolean {
  const now = identify(who.pid);
  return now !== undefined && now.startTicks === who.startTicks && now.command === who.command;
}

/** Processes whose parent is `pid` (nginx's workers are its master's children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/** Send `signal` to `who` if it is still the process recorded; false when it is gone or another one. */
export function signalIfSame(who: ProcessIdentity, signal: NodeJS.Signals): boolean {
  if (!stillRunning(who)) return false;
  try {
    process.kill(who.pid, signal);
    return true;
  } catch {
    return false; // exited between the check and the signal
  }
}
