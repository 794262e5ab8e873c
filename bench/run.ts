/**
 * `npm run bench`: the performance targets (throughput, latency, resume, drain, capacity, and the same
 * workloads against Socket.IO), each measured against a baseline of the same run, and proof that the
 * gateway lost and duplicated nothing while it was measured. Every server and every load generator is
 * its own child process; every suite is bounded in count and time and stops what it started. Prints
 * one targets table, then each suite's details; writes the results as JSON (bench/results.json by
 * default) and exits 1 when any message went missing or came twice, 2 when the run itself failed. See
 * docs/PERFORMANCE.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineBusyPct, machineTicks } from './cpu.js';
import { type BenchOptions, parseOptions, USAGE, UsageError } from './options.js';
import { type BenchReport, describeMachine, machineLine } from './report.js';
import { type Suite, type SuiteName, type SuiteResult, targetsTable } from './suite.js';
import { capacitySuite } from './suites/capacity.js';
import { drainSuite } from './suites/drain.js';
import { latencySuite } from './suites/latency.js';
import { resumeSuite } from './suites/resume.js';
import { socketioSuite } from './suites/socketio.js';
import { throughputSuite } from './suites/throughput.js';

/** Every suite, by name; `--suites` picks and orders them. */
const SUITES: Record<SuiteName, Suite> = {
  throughput: throughputSuite,
  latency: latencySuite,
  resume: resumeSuite,
  drain: drainSuite,
  capacity: capacitySuite,
  socketio: socketioSuite,
};

const DEFAULT_OUT = fileURLToPath(new URL('./results.json', import.meta.url));
/** Busier than this (percent of one core) before the run, and the figures are someone else's too. */
const QUIET_PCT = 15;

/** CPU in use on the machine over the next second (percent of one core), before we start anything. */
async function busyNow(): Promise<number | undefined> {
  const from = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return machineBusyPct(from, machineTicks());
}

function parseOrExit(argv: readonly string[]): BenchOptions {
  try {
    const options = parseOptions(argv, DEFAULT_OUT);
    if (options) return options;
    console.log(USAGE);
    process.exit(0);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const options = parseOrExit(argv);
  // With --json, stdout carries the JSON alone; everything readable goes to stderr.
  const say = options.json ? console.error : console.log;
  const progress = console.error;
  const machine = describeMachine(await busyNow());
  const startedAt = new Date().toISOString();
  progress(`zerodrop bench on ${machineLine(machine)}`);
  if ((machine.busyBeforeRunPct ?? 0) > QUIET_PCT) {
    progress(
      `warning: the machine was ${Math.round(machine.busyBeforeRunPct!)}% busy (of one core) before the run ` +
        'started: other processes share the cores, expect lower and noisier figures ("other CPU" column)',
    );
  }
  const runnable = options.suites.filter((name) => SUITES[name] !== undefined);
  progress(
    `suites: ${runnable.join(', ')}${options.quick ? ' (quick: small scale, targets not judged)' : ''}`,
  );

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`\n${signal}: stopping every process this run started`);
    abort.abort(new Error(`interrupted by ${signal}`));
    // Suites stop their processes on abort; this is the bound on how long they may take.
    setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), 15_000).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const runId = Date.now().toString(36);
  const suites: SuiteResult[] = [];
  try {
    for (const name of runnable) {
      progress(`\n${name}:`);
      const suite = SUITES[name];
      suites.push(await suite({ options, progress, runId, signal: abort.signal }));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (abort.signal.aborted) return 130;

  const targets = suites.flatMap((s) => s.targets);
  const report: BenchReport = {
    machine,
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
    options,
    startedAt,
    finishedAt: new Date().toISOString(),
    targets,
    suites: Object.fromEntries(suites.map((s) => [s.suite, { ok: s.ok, targets: s.targets, data: s.data }])),
    ok: suites.every((s) => s.ok),
  };
  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  say('');
  say(targetsTable(targets));
  for (const s of suites) {
    say(`\n## ${s.suite}${s.ok ? '' : ' — MESSAGES LOST OR DUPLICATED'}`);
    for (const block of s.text) say(`\n${block}`);
  }
  say(`\nResults written to ${out}`);
  if (options.json) console.log(JSON.stringify(report));
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
