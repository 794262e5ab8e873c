/**
 * The operating-system limits a connection count runs into, read from Linux /proc (undefined
 * elsewhere): this process's open-files limit and descriptors, and the kernel's accept queue, local
 * port range and file tables. No side effects: the suite, its servers and its workers all import it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The open-files limit of a process (RLIMIT_NOFILE). */
export interface FileLimit {
  readonly soft: number;
  readonly hard: number;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** RLIMIT_NOFILE of this process, from the "Max open files" line of /proc/self/limits. */
export function fileLimit(): FileLimit | undefined {
  const line = readProc('/proc/self/limits')
    ?.split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line?.slice('Max open files'.length).trim().split(/\s+/) ?? []).map(Number);
  return Number.isFinite(soft) && Number.isFinite(hard) ? { soft: soft!, hard: hard! } : undefined;
}

/** File descriptors this process has open now. */
export function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

export interface KernelLimits {
  /** Longest accept queue a listen() may ask for (net.core.somaxconn). */
  readonly somaxconn: number | undefined;
  /** SYNs kept per listener before the handshake completes (net.ipv4.tcp_max_syn_backlog). */
  readonly tcpMaxSynBacklog: number | undefined;
  /** Ephemeral ports a client picks its source port from (net.ipv4.ip_local_port_range). */
  readonly localPorts: { readonly from: number; readonly to: number } | undefined;
  /** Highest RLIMIT_NOFILE a process may get (fs.nr_open). */
  readonly nrOpen: number | undefined;
  /** Open files of the whole machine (fs.file-max). */
  readonly fileMax: number | undefined;
}

function procNumbers(path: string): number[] | undefined {
  const values = readProc(path)?.trim().split(/\s+/).map(Number);
  return values?.every(Number.isFinite) ? values : undefined;
}

export function kernelLimits(): KernelLimits {
  const ports = procNumbers('/proc/sys/net/ipv4/ip_local_port_range');
  return {
    somaxconn: procNumbers('/proc/sys/net/core/somaxconn')?.[0],
    tcpMaxSynBacklog: procNumbers('/proc/sys/net/ipv4/tcp_max_syn_backlog')?.[0],
    localPorts: ports && ports.length === 2 ? { from: ports[0]!, to: ports[1]! } : undefined,
    nrOpen: procNumbers('/proc/sys/fs/nr_open')?.[0],
    fileMax: procNumbers('/proc/sys/fs/file-max')?.[0],
  };
}
