/**
 * The closed loop one connection runs: keep `window` probes in flight, each carrying the worker's
 * `performance.now()` at send time and a counter; on every echo record the round trip and send the
 * next probe. Every counter is tracked until it comes back, so a lost, duplicated or reordered echo
 * is counted, not just slower figures. Transport-agnostic: the caller passes how to send a probe.
 */
import { performance } from 'node:perf_hooks';

export interface Probe {
  /** `performance.now()` of the sending worker. */
  readonly t: number;
  /** 1, 2, 3… per connection. */
  readonly n: number;
}

/** Latency samples of one worker, in a growing Float64Array with a hard cap on memory. */
export class LatencySamples {
  /** 4 M samples (32 MB) per worker: the longest window (60 s) at 60,000 echoes/s per worker fits. */
  static readonly CAP = 4_000_000;
  #values = new Float64Array(65_536);
  #size = 0;
  dropped = 0;

  add(ms: number): void {
    if (this.#size === this.#values.length) {
      if (this.#size >= LatencySamples.CAP) {
        this.dropped++;
        return;
      }
      const grown = new Float64Array(Math.min(this.#size * 2, LatencySamples.CAP));
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#size++] = ms;
  }

  get size(): number {
    return this.#size;
  }

  /** A copy of the samples, sized exactly. */
  toArray(): Float64Array {
    return this.#values.slice(0, this.#size);
  }
}

/** The phases of one worker's run, in its own `performance.now()` time. Before `start`, nothing is sent. */
export class LoadWindow {
  /** Probes are sent only before this moment; afterwards the loops only drain. */
  sendUntil = Number.NEGATIVE_INFINITY;
  measureFrom = Number.POSITIVE_INFINITY;
  measureUntil = Number.POSITIVE_INFINITY;
  /** Echoes received inside [measureFrom, measureUntil). */
  echoes = 0;
  readonly samples = new LatencySamples();
  readonly window: number;

  constructor(window: number) {
    this.window = window;
  }

  start(now: number, warmupMs: number, durationMs: number): void {
    this.measureFrom = now + warmupMs;
    this.measureUntil = this.measureFrom + durationMs;
    this.sendUntil = this.measureUntil;
  }

  record(receivedAt: number, latencyMs: number): void {
    if (receivedAt < this.measureFrom || receivedAt >= this.measureUntil) return;
    this.echoes++;
    this.samples.add(latencyMs);
  }
}

export class EchoLoop {
  readonly #load: LoadWindow;
  readonly #send: (probe: Probe) => void;
  readonly #inFlight = new Set<number>();
  #next = 1;
  #highest = 0;
  sent = 0;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;

  constructor(load: LoadWindow, send: (probe: Probe) => void) {
    this.#load = load;
    this.#send = send;
  }

  /** Counters sent and not echoed yet. */
  get outstanding(): number {
    return this.#inFlight.size;
  }

  /** Top the window up, while the load window is open. */
  fill(): void {
    while (this.#inFlight.size < this.#load.window) {
      const t = performance.now();
      if (t >= this.#load.sendUntil) return;
      const n = this.#next++;
      this.#send({ t, n });
      this.#inFlight.add(n);
      this.sent++;
    }
  }

  onEcho(value: unknown): void {
    const now = performance.now();
    const probe = value as Partial<Probe> | null;
    if (typeof probe?.n !== 'number' || typeof probe.t !== 'number' || !this.#inFlight.delete(probe.n)) {
      this.duplicates++;
      return;
    }
    this.received++;
    if (probe.n < this.#highest) this.outOfOrder++;
    else this.#highest = probe.n;
    this.#load.record(now, now - probe.t);
    this.fill();
  }
}
