/**
 * How long something arriving at a random moment (a device's frame, a timer) waits for the event loop,
 * measured inside a server child. `monitorEventLoopDelay` counts one sample per timer tick, so one
 * 60 ms stall a second is one sample in two hundred and hides below its p99; here every stall counts
 * by how long it lasts. A timer ticks every `periodMs` and keeps how late each tick ran; a moment
 * inside a stretch of lateness `l` waits until its end, so over a window of length T the share of
 * moments that wait longer than w is Σ max(0, l − w) ÷ T, and the time-weighted p99 is the w where
 * that share is 1 %.
 */
import { performance } from 'node:perf_hooks';

/** Ticks kept per window; a window of 60 s at 5 ms has 12,000. Beyond it, ticks are dropped. */
const MAX_TICKS = 1 << 17;

export interface LoopWait {
  /** The wait that 1 % of the window's moments exceeded (ms). */
  readonly p99Ms: number;
  /** Share of the window the loop was running behind, in percent. */
  readonly behindPct: number;
}

/** The wait that a share `share` of a window of `windowMs` exceeded, given the late ticks `lates`. */
export function timeWeightedWait(lates: Float64Array, windowMs: number, share: number): number {
  const sorted = lates.slice().sort().reverse();
  const budget = share * windowMs;
  // f(w) = Σ max(0, l − w) falls as w rises; between the k-th and (k+1)-th largest it is S_k − k·w.
  let sum = 0;
  for (let k = 1; k <= sorted.length; k++) {
    sum += sorted[k - 1]!;
    const w = (sum - budget) / k;
    const below = k < sorted.length ? sorted[k]! : 0;
    if (w >= below) return Math.max(0, w);
  }
  return 0;
}

export class LoopWaitMeter {
  readonly #periodMs: number;
  readonly #lates = new Float64Array(MAX_TICKS);
  #count = 0;
  #last = performance.now();
  #from = performance.now();

  constructor(periodMs = 5) {
    this.#periodMs = periodMs;
    setInterval(() => this.#tick(), periodMs).unref();
  }

  #tick(): void {
    const now = performance.now();
    const late = now - this.#last - this.#periodMs;
    this.#last = now;
    if (late > 0 && this.#count < MAX_TICKS) this.#lates[this.#count++] = late;
  }

  /** The window since the previous call (or since the meter started); starts the next one. */
  take(): LoopWait {
    const now = performance.now();
    const windowMs = now - this.#from;
    const lates = this.#lates.subarray(0, this.#count);
    let behind = 0;
    for (const l of lates) behind += l;
    const wait: LoopWait = {
      p99Ms: windowMs > 0 ? timeWeightedWait(lates, windowMs, 0.01) : 0,
      behindPct: windowMs > 0 ? (behind / windowMs) * 100 : 0,
    };
    this.#count = 0;
    this.#from = now;
    return wait;
  }
}
