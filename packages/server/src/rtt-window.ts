/**
 * A fixed-size ring of recent RTT samples, for the runbook's `rtt_p95_ms`. Fixed memory, O(1) per
 * sample; percentiles are computed when asked (on a metrics request), not per sample.
 */
import { percentileOfSorted } from '@zerodrop/protocol';

export class RttWindow {
  readonly #samples: Float64Array;
  #next = 0;
  #filled = 0;

  constructor(size = 2048) {
    this.#samples = new Float64Array(size);
  }

  add(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    if (this.#filled < this.#samples.length) this.#filled++;
  }

  get size(): number {
    return this.#filled;
  }

  percentiles(...ps: number[]): number[] {
    const sorted = Array.from(this.#samples.subarray(0, this.#filled)).sort((a, b) => a - b);
    return ps.map((p) => Math.round(percentileOfSorted(sorted, p) * 100) / 100);
  }
}
