/**
 * What every benchmark suite (throughput, latency, resume, drain, capacity, Socket.IO) gives `run.ts`:
 * its target rows (the figure, the target it is held to, the baseline measured in the same run and the
 * ratio between the two), whether it lost or duplicated anything, readable tables, and its raw data for
 * bench/results.json. A suite starts every process it needs and stops it before it returns; `run.ts`
 * only orders the suites, prints and writes.
 */
import type { BenchOptions } from './options.js';

/** One line of the targets table (issue: "each target, the measured figure, the baseline, the ratio"). */
export interface TargetRow {
  /** Which target: "2. throughput", "5. drain"… */
  readonly target: string;
  /** What was measured, e.g. "echo msgs/s, gateway+redis, 1,000 connections". */
  readonly figure: string;
  readonly measured: number;
  readonly unit: string;
  /** What the target asks, readable ("≥ 50 % of raw ws", "≤ 5 s"). */
  readonly goal: string;
  /** The baseline of the same run, when the target compares with one. */
  readonly baseline: { readonly label: string; readonly value: number } | undefined;
  /** measured ÷ baseline.value. */
  readonly ratio: number | undefined;
  /** The target was met; undefined when the run was too small to judge it (--quick). */
  readonly met: boolean | undefined;
}

export interface SuiteResult {
  readonly suite: SuiteName;
  readonly targets: readonly TargetRow[];
  /** Nothing the suite sent was lost or duplicated (and the suite ran to its end). */
  readonly ok: boolean;
  /** Markdown tables and lines printed after the targets table. */
  readonly text: readonly string[];
  /** Everything measured, for results.json. */
  readonly data: unknown;
}

export interface SuiteContext {
  readonly options: BenchOptions;
  /** Progress lines (stderr). */
  readonly progress: (line: string) => void;
  /** Unique per run; suites prefix device ids with it. */
  readonly runId: string;
  /** Aborted on Ctrl-C / SIGTERM: a suite stops what it started and returns or throws promptly. */
  readonly signal: AbortSignal;
}

/** Every suite, in the order a full run takes them. */
export const SUITE_NAMES = ['throughput', 'latency', 'resume', 'drain', 'capacity', 'socketio'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

export type Suite = (ctx: SuiteContext) => Promise<SuiteResult>;

/** A row whose goal is "measured ≤ limit" or "≥ limit" on the figure itself. */
export function row(
  fields: Omit<TargetRow, 'ratio' | 'met'>,
  judge: {
    readonly max?: number;
    readonly min?: number;
    readonly minRatio?: number;
    readonly maxRatio?: number;
    readonly judged: boolean;
  },
): TargetRow {
  const ratio =
    fields.baseline && fields.baseline.value !== 0 ? fields.measured / fields.baseline.value : undefined;
  let met: boolean | undefined;
  if (judge.judged) {
    met = true;
    if (judge.max !== undefined && !(fields.measured <= judge.max)) met = false;
    if (judge.min !== undefined && !(fields.measured >= judge.min)) met = false;
    if (judge.minRatio !== undefined && !(ratio !== undefined && ratio >= judge.minRatio)) met = false;
    if (judge.maxRatio !== undefined && !(ratio !== undefined && ratio <= judge.maxRatio)) met = false;
  }
  return { ...fields, ratio, met };
}

const int = (v: number) => Math.round(v).toLocaleString('en-US');

/** A figure in its unit, rounded for reading. */
export function show(value: number, unit: string): string {
  if (unit === 'ms')
    return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ms`;
  if (unit === 's') return `${value.toFixed(2)} s`;
  if (unit === 'KB') return `${value.toFixed(1)} KB`;
  if (unit === '') return int(value);
  return `${int(value)} ${unit}`;
}

type Align = 'left' | 'right';

/** A Markdown table, padded so it also reads in a terminal (the rule row as the formatter writes it). */
export function markdownTable(
  heads: readonly (readonly [string, Align])[],
  rows: readonly (readonly string[])[],
): string {
  const widths = heads.map(([head], i) => Math.max(head.length, ...rows.map((r) => r[i]!.length)));
  const left = (i: number) => heads[i]![1] === 'left';
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = line(widths.map((w, i) => (left(i) ? `:${'-'.repeat(w - 1)}` : `${'-'.repeat(w - 1)}:`)));
  return [line(heads.map(([head]) => head)), rule, ...rows.map(line)].join('\n');
}

/** The targets table: one row per target figure, with its baseline and ratio. */
export function targetsTable(rows: readonly TargetRow[]): string {
  return markdownTable(
    [
      ['target', 'left'],
      ['figure', 'left'],
      ['measured', 'right'],
      ['goal', 'left'],
      ['baseline (same run)', 'left'],
      ['ratio', 'right'],
      ['met', 'left'],
    ],
    rows.map((r) => [
      r.target,
      r.figure,
      show(r.measured, r.unit),
      r.goal,
      r.baseline ? `${r.baseline.label}: ${show(r.baseline.value, r.unit)}` : '—',
      r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`,
      r.met === undefined ? 'not judged' : r.met ? 'yes' : 'NO',
    ]),
  );
}
