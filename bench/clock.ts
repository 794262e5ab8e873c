/**
 * One clock for every process of a benchmark run, so that a timestamp written by one process (a load
 * worker, a server child) can be subtracted from a reading in another: one-way latencies across
 * processes. It is CLOCK_MONOTONIC (libuv's hrtime), which Linux keeps system-wide; `performance.now()`
 * would not do, as each process counts it from its own start.
 */

/** Milliseconds on the machine's monotonic clock (sub-microsecond resolution). */
export function sharedClockMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
