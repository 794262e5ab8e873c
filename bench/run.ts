/**
 * `npm run bench`: round-trip throughput and latency of the gateway against a raw `ws` echo server, and
 * proof that the gateway lost and duplicated nothing while it was measured. Every server and every load
 * worker is its own child process; each scenario runs a bounded warm-up and window and stops by itself.
 * Writes the results as JSON (bench/results.json by default) and exits 1 when any echo went missing or
 * came back twice, 2 when the run itself failed. Every process it started is stopped before it exits,
 * on failure and on Ctrl-C too. See docs/PERFORMANCE.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineBusyPct, machineTicks } from './cpu.js';
import { type BenchOptions, parseOptions, USAGE, UsageError } from './options.js';
import {
  type BenchReport,
  correctnessLines,
  describeMachine,
  detailsTable,
  figuresTable,
  machineLine,
  withRatios,
} from './report.js';
import { runScenario, type ScenarioResult } from './scenario.js';
import { ServerSet } from './servers.js';

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
  progress(
    `${options.connections.join(', ')} connections × ${options.servers.join(', ')}; window ${options.window}, ` +
      `${options.warmupS} s warm-up + ${options.durationS} s measured, ${options.workers} load workers`,
  );

  const servers = new ServerSet();
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`\n${signal}: stopping every process this run started`);
    void servers.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: ScenarioResult[] = [];
  try {
    await servers.start(options.servers, options.cpuProfDir);
    const runId = Date.now().toString(36);
    for (const connections of options.connections) {
      for (const server of servers.servers) {
        const result = await runScenario(
          server,
          connections,
          options,
          `bench-${runId}-${server.kind}-${connections}`,
        );
        results.push(result);
        progress(
          `  ${server.label}, ${connections} connections: ${Math.round(result.messagesPerSec)} msgs/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms, ${result.ok ? 'every echo once' : 'ECHOES LOST OR DUPLICATED'}`,
        );
      }
    }
  } finally {
    await servers.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const scenarios = withRatios(results);
  const report: BenchReport = {
    machine,
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
    options,
    startedAt,
    finishedAt: new Date().toISOString(),
    scenarios,
    ok: scenarios.every((s) => s.ok),
  };
  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  say('');
  say(figuresTable(scenarios));
  say('');
  say(detailsTable(scenarios));
  say('');
  say('Correctness (every counter sent must come back exactly once):');
  for (const line of correctnessLines(scenarios)) say(`  ${line}`);
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
