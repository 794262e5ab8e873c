/**
 * `zerodrop drill <scenario|all>`: a runbook operation performed on a clean local lab while simulated
 * devices stream both ways, then proof that nothing was lost: every message numbered at its source is
 * checked at its destination, the gateway's own counters are read and compared, and every figure is
 * judged against the runbook's targets. Exit 0 when every target is met, 1 otherwise.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs, parseCount, parseSeconds, wantsHelp } from '../args.js';
import { CliError, UsageError } from '../cli-error.js';
import { renderHtmlReport } from '../drill/report-html.js';
import { drillJson, renderScenario, renderSummary } from '../drill/report-text.js';
import type { ScenarioResult } from '../drill/result.js';
import { type DrillOptions, runScenario } from '../drill/runner.js';
import { SCENARIOS, scenarioNamed } from '../drill/scenarios.js';
import { requireBinary } from '../lab/binaries.js';
import { checkLabBinaries } from '../lab/detached-lab.js';
import { interruptOnSigint } from '../watch.js';

const COMMAND = 'drill';
const DEFAULTS = { devices: 50, durationS: 20, rate: 1 };
/** Exit code of a drill stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

const HELP = `Usage: zerodrop drill <scenario|all> [options]

Performs a runbook operation on a local cluster of its own (redis-server with RDB snapshots, gateway
instances app and app_replica, nginx with the deploy/nginx configuration) while simulated devices
stream text and binary messages both ways, then proves zero drops: every message is numbered at its
source and checked at its destination, and the gateway's counters are read and compared.

Scenarios (docs/DRILLS.md):
${SCENARIOS.map((s) => `  ${s.name.padEnd(15)} ${s.title}`).join('\n')}
  ${'all'.padEnd(15)} each of them in turn, each from a clean lab

Options:
  --devices <n>     simulated devices (default ${DEFAULTS.devices})
  --duration <s>    seconds of traffic per scenario, at least (default ${DEFAULTS.durationS})
  --rate <n>        messages per second per device, each way (default ${DEFAULTS.rate}); every second one binary
  --json            print the figures as JSON on stdout instead of the tables
  --report <file>   also write a self-contained HTML report (timelines and target tables)
  --quiet           no progress line on stderr
  -h, --help        show this help

Targets (runbook): 0 drops, resume success rate > 95 %, RTT p95 <= 150 ms, reconnection <= 3 s, drain
within its grace period, and the operation's "done when". Exit code 0 when every target is met in every
scenario, 1 when one is missed or a scenario could not run, 2 on a usage error, 130 on Ctrl-C.
Needs redis-server, redis-cli and nginx (Debian packages redis-server, redis-tools, nginx).`;

const OPTIONS = {
  devices: { kind: 'value' },
  duration: { kind: 'value' },
  rate: { kind: 'value' },
  json: { kind: 'flag' },
  report: { kind: 'value' },
  quiet: { kind: 'flag' },
} as const;

export async function drillCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv, OPTIONS, COMMAND);
  const [name, ...extra] = args.positionals;
  if (!name) throw new UsageError('name a scenario, or all', COMMAND);
  if (extra.length > 0) throw new UsageError('give one scenario (or all)', COMMAND);
  const scenarios = name === 'all' ? SCENARIOS : [scenarioNamed(name)];
  if (!scenarios[0])
    throw new UsageError(
      `unknown scenario "${name}" (${SCENARIOS.map((s) => s.name).join(', ')}, all)`,
      COMMAND,
    );
  const value = (option: string) => args.value(option);
  const devices =
    value('devices') === undefined ? DEFAULTS.devices : parseCount(value('devices')!, 'devices', COMMAND, 1);
  const durationS =
    value('duration') === undefined
      ? DEFAULTS.durationS
      : parseSeconds(value('duration')!, 'duration', COMMAND, 5);
  const rate =
    value('rate') === undefined ? DEFAULTS.rate : parseSeconds(value('rate')!, 'rate', COMMAND, 0.1);
  const json = args.has('json');
  const reportPath = value('report');

  try {
    checkLabBinaries();
    requireBinary('redis-cli', 'redis-tools');
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const interrupt = interruptOnSigint();
  const options: DrillOptions = {
    devices,
    durationS,
    rate,
    signal: interrupt.signal,
    progress: args.has('quiet') ? () => {} : (line) => process.stderr.write(`${line}\n`),
  };
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of scenarios as NonNullable<(typeof scenarios)[number]>[]) {
      const result = await runScenario(scenario, options);
      results.push(result);
      if (!json) console.log(`\n${renderScenario(result)}`);
    }
  } catch (err) {
    if (interrupt.signal.aborted) {
      console.error('zerodrop: drill interrupted; its lab is stopped');
      return INTERRUPTED;
    }
    throw new CliError(`drill: ${(err as Error).message}`);
  } finally {
    interrupt.dispose();
  }

  if (reportPath) writeFileSync(reportPath, renderHtmlReport(results));
  if (json) console.log(drillJson(results, { devices, durationS, rate }));
  else if (results.length > 1) console.log(`\n${renderSummary(results)}`);
  if (reportPath) console.error(`zerodrop: report written to ${reportPath}`);
  return results.every((r) => r.ok) ? 0 : 1;
}
