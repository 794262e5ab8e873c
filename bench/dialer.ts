/**
 * Opening and closing a worker's share of load connections, for every load worker: dial at most
 * `DIAL_CONCURRENCY` at a time (enough to connect 1,000 quickly, few enough not to overflow the
 * server's accept backlog), each until it is ready, all within one deadline; on failure close what did
 * open. Closing is bounded too.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Link } from './links.js';

const DIAL_CONCURRENCY = 64;
/** Bound on closing every connection at the end (each close also has its own bound). */
const CLOSE_ALL_MS = 10_000;

/** Open `count` connections with `open(index)`; throws when they are not all ready within `timeoutMs`. */
export async function dialAll<C extends { readonly link: Link }>(
  count: number,
  open: (index: number) => C,
  timeoutMs: number,
): Promise<C[]> {
  const opened: C[] = [];
  const deadline = performance.now() + timeoutMs;
  let next = 0;
  const dialer = async () => {
    while (next < count) {
      const c = open(next++);
      opened.push(c);
      const left = deadline - performance.now();
      const timedOut = sleep(Math.max(0, left), 'timeout' as const, { ref: false });
      if ((await Promise.race([c.link.ready.then(() => 'open' as const), timedOut])) === 'timeout') {
        throw new Error(`${opened.length} of ${count} connections were not open within ${timeoutMs} ms`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(DIAL_CONCURRENCY, count) }, dialer));
  } catch (err) {
    await closeAll(opened.map((c) => c.link));
    throw err;
  }
  return opened;
}

export async function closeAll(links: readonly Link[]): Promise<void> {
  await Promise.race([
    Promise.allSettled(links.map((l) => l.close())),
    sleep(CLOSE_ALL_MS, undefined, { ref: false }),
  ]);
}
