/**
 * The open-loop half of the paced workloads: a `Pacer` sends to each of its targets at a fixed rate,
 * the sends of all targets spread evenly over time (never in bursts, never waiting for an answer), and
 * an `InboundTally` receives paced probes, keeps their one-way latencies (stamped on the shared clock,
 * see clock.ts) and checks that each sender's counters arrive exactly once and in order. Both ends of a
 * paced workload use them: the devices in their worker, the application in the server child.
 */
import { percentileOfSorted } from '@zerodrop/protocol';
import { sharedClockMs } from './clock.js';
import { LatencySamples, type Probe } from './echo-loop.js';

/** How often the pacer looks at the clock: well below the latencies it helps measure. */
const TICK_MS = 2;

export class Pacer<T> {
  readonly #targets: readonly T[];
  /** Time between two consecutive sends, all targets together. */
  readonly #intervalMs: number;
  readonly #send: (target: T) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #from = 0;
  #total = 0;
  #sent = 0;
  #finished: (() => void) | undefined;
  /** How late each send left against its schedule (ms): the sender's own event-loop delay. */
  readonly lateness = new LatencySamples();

  /** `send` is called `perTargetPerSec` times a second for every target, round-robin. */
  constructor(targets: readonly T[], perTargetPerSec: number, send: (target: T) => void) {
    this.#targets = targets;
    this.#intervalMs = 1000 / (perTargetPerSec * Math.max(1, targets.length));
    this.#send = send;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Send from `from` until `until` (shared clock); resolves after the last send, or on `stop`. */
  run(from: number, until: number): Promise<void> {
    this.stop();
    this.#from = from;
    this.#sent = 0;
    this.#total = this.#targets.length === 0 ? 0 : Math.max(0, Math.floor((until - from) / this.#intervalMs));
    return new Promise<void>((resolve) => {
      this.#finished = resolve;
      if (this.#total === 0) return this.stop();
      this.#timer = setInterval(() => this.#tick(), TICK_MS);
    });
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const finished = this.#finished;
    this.#finished = undefined;
    finished?.();
  }

  #tick(): void {
    const now = sharedClockMs();
    if (now < this.#from) return;
    const due = Math.min(this.#total, Math.floor((now - this.#from) / this.#intervalMs) + 1);
    const n = this.#targets.length;
    while (this.#sent < due) {
      this.lateness.add(now - (this.#from + this.#sent * this.#intervalMs));
      this.#send(this.#targets[this.#sent % n]!);
      this.#sent++;
    }
    if (this.#sent >= this.#total) this.stop();
  }
}

/** What one sender's probes looked like on arrival. */
export interface ReceivedCounts {
  /** Distinct counters received. */
  readonly received: number;
  /** Counters received a second time. */
  readonly duplicates: number;
  /** Counters that arrived after a higher one of the same sender. */
  readonly outOfOrder: number;
}

/** A counter this far ahead of the sender's highest is corrupt, not a gap to keep track of. */
const MAX_GAP = 100_000;

interface SenderState {
  received: number;
  duplicates: number;
  outOfOrder: number;
  highest: number;
  /** Counters skipped over so far (normally none): one arriving later is late, not a duplicate. */
  gaps: Set<number> | undefined;
}

export class InboundTally {
  readonly #senders = new Map<string, SenderState>();
  /** One-way latencies (ms) of the probes sent inside the window. */
  readonly samples = new LatencySamples();
  /** Values that were not probes. */
  malformed = 0;
  #from = Number.NEGATIVE_INFINITY;
  #until = Number.POSITIVE_INFINITY;

  /** Keep latencies of the probes sent in [from, until) on the shared clock (default: all). */
  measure(from: number, until: number): this {
    this.#from = from;
    this.#until = until;
    return this;
  }

  /** Record one arrival from `sender`; returns how many distinct probes that sender has delivered. */
  onProbe(sender: string, value: unknown): number {
    const now = sharedClockMs();
    const probe = value as Partial<Probe> | null;
    if (typeof probe?.n !== 'number' || typeof probe.t !== 'number') {
      this.malformed++;
      return this.#senders.get(sender)?.received ?? 0;
    }
    let s = this.#senders.get(sender);
    if (!s) {
      s = { received: 0, duplicates: 0, outOfOrder: 0, highest: 0, gaps: undefined };
      this.#senders.set(sender, s);
    }
    const n = probe.n;
    if (!Number.isInteger(n) || n < 1 || n > s.highest + MAX_GAP) {
      this.malformed++;
      return s.received;
    }
    if (n > s.highest) {
      if (n > s.highest + 1) {
        s.gaps ??= new Set();
        for (let skipped = s.highest + 1; skipped < n; skipped++) s.gaps.add(skipped);
      }
      s.highest = n;
    } else if (s.gaps?.delete(n)) {
      s.outOfOrder++;
    } else {
      s.duplicates++;
      return s.received;
    }
    s.received++;
    if (probe.t >= this.#from && probe.t < this.#until) this.samples.add(now - probe.t);
    return s.received;
  }

  /** Per sender: what arrived. */
  counts(): Map<string, ReceivedCounts> {
    const out = new Map<string, ReceivedCounts>();
    for (const [sender, s] of this.#senders) {
      out.set(sender, { received: s.received, duplicates: s.duplicates, outOfOrder: s.outOfOrder });
    }
    return out;
  }

  receivedFrom(sender: string): number {
    return this.#senders.get(sender)?.received ?? 0;
  }
}

/** Both ends' books of one direction, merged: sent per sender against what arrived. */
export interface DeliveryCount {
  readonly sent: number;
  readonly received: number;
  /** Sent and never received. */
  readonly missing: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  /** Arrivals that were not probes, or from a sender that sent nothing. */
  readonly unexpected: number;
}

export function compareDeliveries(
  sent: ReadonlyMap<string, number>,
  received: ReadonlyMap<string, ReceivedCounts>,
  malformed = 0,
): DeliveryCount {
  let total = 0;
  let got = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let unexpected = malformed;
  for (const [sender, n] of sent) {
    const r = received.get(sender);
    total += n;
    got += Math.min(n, r?.received ?? 0);
    missing += Math.max(0, n - (r?.received ?? 0));
    unexpected += Math.max(0, (r?.received ?? 0) - n);
  }
  for (const [sender, r] of received) {
    duplicates += r.duplicates;
    outOfOrder += r.outOfOrder;
    if (!sent.has(sender)) unexpected += r.received;
  }
  return { sent: total, received: got, missing, duplicates, outOfOrder, unexpected };
}

/** Nothing lost, nothing twice, nothing foreign, and something was sent at all. */
export function deliveredOnce(c: DeliveryCount): boolean {
  return c.sent > 0 && c.missing === 0 && c.duplicates === 0 && c.unexpected === 0;
}

/** p50/p99/max of a sample set (nearest rank), in ms; NaN when empty. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(samples: Float64Array | readonly Float64Array[]): Percentiles {
  const parts = samples instanceof Float64Array ? [samples] : samples;
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  if (all.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  // A typed array sorts numerically in native code; the percentile helper takes a plain array.
  const sorted = Array.from(all.sort());
  return {
    count: sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p99: percentileOfSorted(sorted, 99),
    max: sorted[sorted.length - 1]!,
  };
}
