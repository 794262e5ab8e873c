/**
 * Percentiles over a sample, as the gateway's RTT window, the drills and the benchmarks report them
 * (nearest-rank on a sorted copy). Pure: no clock, no I/O.
 */

/** Nearest-rank percentile (`p` in 0–100) of `values`; 0 for an empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileOfSorted(sorted, p);
}

export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
