/**
 * A small metrics registry with Prometheus text exposition (format 0.0.4). Counters, gauges and
 * histograms keep plain numbers, so the hot path is one addition and the JSON endpoint reads the same
 * values the Prometheus endpoint renders. Label values must come from fixed sets defined by the code,
 * never from client input.
 */

type Labels = Readonly<Record<string, string>>;

/**
 * Series keys by labels object. Hot paths pass the same constant objects every time (label values
 * come from fixed sets), so after the first call an increment costs a WeakMap lookup and an addition.
 */
const keyCache = new WeakMap<Labels, string>();

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const cached = keyCache.get(labels);
  if (cached !== undefined) return cached;
  const keys = Object.keys(labels).sort();
  const key = keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',');
  if (Object.isFrozen(labels)) keyCache.set(labels, key);
  return key;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

interface Metric {
  readonly name: string;
  render(): string;
}

abstract class Scalar implements Metric {
  protected readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly type: 'counter' | 'gauge',
  ) {}

  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  /** Sum over every label combination. */
  total(): number {
    let sum = 0;
    for (const v of this.values.values()) sum += v;
    return sum;
  }

  /** Values by the single label `label` (for JSON views). */
  byLabel(label: string): Record<string, number> {
    const out: Record<string, number> = {};
    const prefix = `${label}="`;
    for (const [key, v] of this.values) {
      const part = key.split(',').find((p) => p.startsWith(prefix));
      if (part) out[part.slice(prefix.length, -1)] = v;
    }
    return out;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [key, v] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ''} ${formatNumber(v)}`);
    return lines.join('\n');
  }
}

export class Counter extends Scalar {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(n = 1, labels?: Labels): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  /** Make a labelled series visible at 0 before its first increment (so alerts and rates see it). */
  init(labels: Labels): void {
    const k = labelKey(labels);
    if (!this.values.has(k)) this.values.set(k, 0);
  }
}

export class Gauge extends Scalar {
  #collect: (() => number) | undefined;
  constructor(name: string, help: string, collect?: () => number) {
    super(name, help, 'gauge');
    this.#collect = collect;
  }
  set(v: number, labels?: Labels): void {
    this.values.set(labelKey(labels), v);
  }
  override get(labels?: Labels): number {
    if (this.#collect && !labels) return this.#collect();
    return super.get(labels);
  }
  override render(): string {
    if (this.#collect) this.values.set('', this.#collect());
    return super.render();
  }
}

export class Histogram implements Metric {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.#counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.#sum += v;
    this.#count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= this.buckets[i]!) {
        this.#counts[i]!++;
        break;
      }
    }
  }

  get count(): number {
    return this.#count;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += this.#counts[i]!;
      lines.push(`${this.name}_bucket{le="${formatNumber(this.buckets[i]!)}"} ${cumulative}`);
    }
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${formatNumber(this.#sum)}`);
    lines.push(`${this.name}_count ${this.#count}`);
    return lines.join('\n');
  }
}

export class MetricsRegistry {
  readonly #metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string, collect?: () => number): Gauge {
    return this.#add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  /** Prometheus text exposition of every metric. */
  render(): string {
    return `${this.#metrics.map((m) => m.render()).join('\n')}\n`;
  }

  #add<M extends Metric>(m: M): M {
    if (this.#metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.#metrics.push(m);
    return m;
  }
}
