/**
 * What a run reports: the machine it ran on, each scenario's figures with its ratios against the raw
 * `ws` echo of the same run and connection count, and the correctness verdict. The table is Markdown,
 * so the terminal output can go into docs/PERFORMANCE.md unchanged.
 */
import { cpus, platform, release, totalmem } from 'node:os';
import type { BenchOptions } from './options.js';
import type { ScenarioResult } from './scenario.js';
import { type SuiteName, type TargetRow, markdownTable as table } from './suite.js';

export interface Machine {
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemoryGiB: number;
  readonly node: string;
  readonly os: string;
  /** CPU in use (percent of one core) in the second before the run started: someone else's load. */
  readonly busyBeforeRunPct: number | undefined;
}

export interface ReportedScenario extends ScenarioResult {
  /** Against the raw ws echo with the same connection count; absent when raw was not run. */
  readonly vsRaw: { readonly messagesPerSec: number; readonly p99: number } | undefined;
}

export interface BenchReport {
  readonly machine: Machine;
  readonly command: string;
  readonly options: BenchOptions;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Every suite's target rows, in the order printed. */
  readonly targets: readonly TargetRow[];
  readonly suites: Partial<
    Record<
      SuiteName,
      { readonly ok: boolean; readonly targets: readonly TargetRow[]; readonly data: unknown }
    >
  >;
  /** Every suite got every message through exactly once. */
  readonly ok: boolean;
}

export function describeMachine(busyBeforeRunPct: number | undefined): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    totalMemoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()}`,
    busyBeforeRunPct,
  };
}

export function withRatios(results: readonly ScenarioResult[]): ReportedScenario[] {
  return results.map((r) => {
    const raw = results.find((b) => b.server === 'raw' && b.connections === r.connections);
    const vsRaw =
      raw && raw.messagesPerSec > 0 && raw.p99Ms > 0
        ? { messagesPerSec: r.messagesPerSec / raw.messagesPerSec, p99: r.p99Ms / raw.p99Ms }
        : undefined;
    return { ...r, vsRaw };
  });
}

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(2)}×`);
const pct = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v)}%`);

type Column = readonly [head: string, align: 'left' | 'right', cell: (s: ReportedScenario) => string];

const COLUMNS: readonly Column[] = [
  ['server', 'left', (s) => s.label],
  ['conns', 'right', (s) => int(s.connections)],
  ['msgs/s', 'right', (s) => int(s.messagesPerSec)],
  ['p50 ms', 'right', (s) => ms(s.p50Ms)],
  ['p99 ms', 'right', (s) => ms(s.p99Ms)],
  ['msgs/s ÷ raw', 'right', (s) => ratio(s.vsRaw?.messagesPerSec)],
  ['p99 ÷ raw', 'right', (s) => ratio(s.vsRaw?.p99)],
  ['server CPU', 'right', (s) => pct(s.serverCpuPct)],
  ['redis CPU', 'right', (s) => pct(s.redisCpuPct)],
  ['load CPU', 'right', (s) => pct(s.loadCpuPct)],
  ['other CPU', 'right', (s) => pct(s.otherCpuPct)],
  ['lost', 'right', (s) => int(s.missing)],
  ['dup', 'right', (s) => int(s.duplicates)],
];

function markdownTable(columns: readonly Column[], scenarios: readonly ReportedScenario[]): string {
  return table(
    columns.map(([head, align]) => [head, align] as const),
    scenarios.map((s) => columns.map(([, , cell]) => cell(s))),
  );
}

/** The figures: throughput, latency, ratios against raw ws, CPU, and what was lost. */
export function figuresTable(scenarios: readonly ReportedScenario[]): string {
  return markdownTable(COLUMNS, scenarios);
}

const DETAIL_COLUMNS: readonly Column[] = [
  ['server', 'left', (s) => s.label],
  ['conns', 'right', (s) => int(s.connections)],
  ['max ms', 'right', (s) => ms(s.maxMs)],
  ['server loop delay p99 ms', 'right', (s) => ms(s.serverLoopDelayP99Ms)],
  [
    'store p50 / p99 ms',
    'right',
    (s) => (s.storeLatencyMs ? `${ms(s.storeLatencyMs.p50)} / ${ms(s.storeLatencyMs.p99)}` : '—'),
  ],
  ['connect s', 'right', (s) => (s.connectMs / 1000).toFixed(1)],
  ['echoes measured', 'right', (s) => int(s.echoes)],
];

/** What explains the figures: loop delay, store latency, connect time, sample size. */
export function detailsTable(scenarios: readonly ReportedScenario[]): string {
  return markdownTable(DETAIL_COLUMNS, scenarios);
}

/** One line per scenario: every counter accounted for, or what went wrong. */
export function correctnessLines(scenarios: readonly ReportedScenario[]): string[] {
  return scenarios.map((s) => {
    const verdict = s.ok ? 'ok' : 'FAILED';
    const extra = [
      s.outOfOrder > 0 ? `${int(s.outOfOrder)} out of order` : '',
      s.reconnects > 0 ? `${int(s.reconnects)} reconnects` : '',
      s.errors > 0 ? `${int(s.errors)} connection errors (first: ${s.firstError})` : '',
      s.samplesDropped > 0 ? `${int(s.samplesDropped)} latency samples over the cap` : '',
    ].filter(Boolean);
    return (
      `${verdict.padEnd(6)} ${s.label}, ${int(s.connections)} connections: sent ${int(s.sent)}, ` +
      `echoed ${int(s.received)}, lost ${int(s.missing)}, duplicated ${int(s.duplicates)}` +
      (extra.length > 0 ? `; ${extra.join(', ')}` : '')
    );
  });
}

export function machineLine(m: Machine): string {
  return `${m.cpus} × ${m.cpuModel}, ${m.totalMemoryGiB} GiB RAM, Node ${m.node}, ${m.os}`;
}
