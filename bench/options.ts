/**
 * Command-line options of `npm run bench`, their defaults (the full run) and the `--quick` preset, each
 * bounded so that no combination runs unbounded: an unknown flag or a value out of range stops the run
 * before any process starts, with the flag named.
 */

import { SUITE_NAMES, type SuiteName } from './suite.js';

/** Servers under test; `--servers` picks from SERVER_KINDS (Socket.IO has its own suite). */
export type ServerKind = 'raw' | 'memory' | 'redis' | 'socketio';
export const SERVER_KINDS: readonly ServerKind[] = ['raw', 'memory', 'redis'];

export interface BenchOptions {
  readonly connections: readonly number[];
  readonly durationS: number;
  readonly warmupS: number;
  /** Messages in flight per connection. */
  readonly window: number;
  /** Load worker processes; the connections are split evenly between them. */
  readonly workers: number;
  readonly servers: readonly ServerKind[];
  readonly quick: boolean;
  /** Print the results as JSON on stdout (the table then goes to stderr). */
  readonly json: boolean;
  /** Where the results file is written. */
  readonly out: string;
  /** When set, gateway children run with `--cpu-prof` and write their profiles here (load workers in `load/`). */
  readonly cpuProfDir: string | undefined;
  /** Which suites run, in this order. */
  readonly suites: readonly SuiteName[];
  /** Sessions the drain suite moves from one instance to the other. */
  readonly drainDevices: number;
  /** Idle sessions the capacity suite opens against one gateway (and its raw ws baseline). */
  readonly capacitySessions: number;
}

export const USAGE = `usage: npm run bench -- [options]

  --quick                 a tiny run for CI: every suite at a small scale, figures not judged
  --suites ${SUITE_NAMES.join(',')}
                          which suites run (default: all)
  --drain-devices 1000    sessions the drain suite moves (10–20000)
  --capacity-sessions 15000    idle sessions the capacity suite holds (8–28000)

throughput suite:
  --connections 100,1000  connection counts, one scenario set each (1–20000)
  --duration 5            measured seconds per scenario (0.1–60)
  --warmup 1              warm-up seconds before measuring (0–30)
  --window 4              messages in flight per connection (1–64)
  --workers 2             load worker processes (1–16)
  --servers raw,memory,redis   which servers to run (ratios need raw)

  --json                  print the results as JSON on stdout
  --out bench/results.json      where to write the results
  --cpu-prof DIR          profile the gateway children (node --cpu-prof) into DIR, the load workers into DIR/load
  --help                  this text`;

export class UsageError extends Error {}

const FULL = {
  connections: [100, 1000],
  durationS: 5,
  warmupS: 1,
  drainDevices: 1000,
  capacitySessions: 15_000,
};
const QUICK = { connections: [20], durationS: 1, warmupS: 0.25, drainDevices: 20, capacitySessions: 200 };

function number(flag: string, raw: string, min: number, max: number, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new UsageError(
      `${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${raw}"`,
    );
  }
  return v;
}

function list<T>(flag: string, raw: string, item: (s: string) => T): T[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.length === 0 || items.length > 8 || items.some((s) => s === '')) {
    throw new UsageError(`${flag} takes 1–8 comma-separated values, got "${raw}"`);
  }
  return items.map(item);
}

function suiteName(raw: string): SuiteName {
  const name = SUITE_NAMES.find((k) => k === raw);
  if (!name) throw new UsageError(`--suites takes ${SUITE_NAMES.join(', ')}; got "${raw}"`);
  return name;
}

function serverKind(raw: string): ServerKind {
  const kind = SERVER_KINDS.find((k) => k === raw);
  if (!kind) throw new UsageError(`--servers takes ${SERVER_KINDS.join(', ')}; got "${raw}"`);
  return kind;
}

/** Parse `argv` (without node and the script); throws UsageError, or returns undefined for --help. */
export function parseOptions(argv: readonly string[], defaultOut: string): BenchOptions | undefined {
  const given = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag === '--help' || flag === '-h') return undefined;
    if (flag === '--quick' || flag === '--json') {
      switches.add(flag);
      continue;
    }
    const takesValue = [
      '--connections',
      '--duration',
      '--warmup',
      '--window',
      '--workers',
      '--servers',
      '--out',
      '--cpu-prof',
      '--suites',
      '--drain-devices',
      '--capacity-sessions',
    ];
    if (!takesValue.includes(flag)) throw new UsageError(`unknown option ${arg}`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    given.set(flag, value);
  }
  const quick = switches.has('--quick');
  const preset = quick ? QUICK : FULL;
  const raw = (flag: string) => given.get(flag);
  const connections = raw('--connections');
  const duration = raw('--duration');
  const warmup = raw('--warmup');
  const window = raw('--window');
  const workers = raw('--workers');
  const servers = raw('--servers');
  const suites = raw('--suites');
  const drainDevices = raw('--drain-devices');
  const capacitySessions = raw('--capacity-sessions');
  return {
    connections: connections
      ? list('--connections', connections, (s) => number('--connections', s, 1, 20_000, true))
      : preset.connections,
    durationS: duration ? number('--duration', duration, 0.1, 60, false) : preset.durationS,
    warmupS: warmup ? number('--warmup', warmup, 0, 30, false) : preset.warmupS,
    window: window ? number('--window', window, 1, 64, true) : 4,
    workers: workers ? number('--workers', workers, 1, 16, true) : 2,
    servers: servers ? [...new Set(list('--servers', servers, serverKind))] : SERVER_KINDS,
    quick,
    json: switches.has('--json'),
    out: raw('--out') ?? defaultOut,
    cpuProfDir: raw('--cpu-prof'),
    suites: suites ? [...new Set(list('--suites', suites, suiteName))] : SUITE_NAMES,
    drainDevices: drainDevices
      ? number('--drain-devices', drainDevices, 10, 20_000, true)
      : preset.drainDevices,
    capacitySessions: capacitySessions
      ? number('--capacity-sessions', capacitySessions, 8, 28_000, true)
      : preset.capacitySessions,
  };
}
