/**
 * `zerodrop lab up|down|status|start`: the runbook's production topology on this machine, as native
 * processes on free loopback ports (lab/detached-lab.ts): Redis with RDB snapshots, the gateway
 * instances `app` and `app_replica`, nginx with the deploy/nginx configuration in front. `up` prints
 * where everything is and records it in the state file; `start` brings back a crashed or stopped
 * gateway or Redis (docs/OPERATIONS.md's lab steps); `down` stops exactly the recorded processes.
 */
import { parseArgs, wantsHelp } from '../args.js';
import { CliError, UsageError } from '../cli-error.js';
import { labDown, labStart, labStatus, labUp, RESTARTABLE } from '../lab/detached-lab.js';
import { RUNBOOK_SAVE } from '../lab/redis-process.js';
import { DEFAULT_LAB_DIR, type LabService, type LabState, readState, statePath } from '../lab/state.js';
import { renderTable } from '../table.js';

const HELP = `Usage: zerodrop lab <up|down|status|start <service>> [--dir <dir>] [--json]

Runs the runbook's production topology on this machine, as native processes on free loopback ports:
one redis-server (RDB snapshots: save "${RUNBOOK_SAVE}"), two gateway instances
(app and app_replica: "zerodrop serve" sharing that Redis, with a fresh admin token, service token
and device secret), and nginx in front with the deploy/nginx configuration.

Subcommands:
  up        start the lab; print its URLs, admin token and PIDs, and record them in <dir>/state.json
  status    show whether each recorded process still runs and what it answers
  down      stop exactly the recorded processes (by PID, each only while it is still the process
            "up" started), remove their directories and the state file
  start <service>
            start again redis, app or app_replica when it no longer runs (after a crash, or as the
            second half of a restart): same port and settings, Redis with its data directory; the
            state file then records the new process, so status and down follow it

Options:
  --dir <dir>   where the state file and the logs go (default: ${DEFAULT_LAB_DIR}, git-ignored)
  --json        print the state (up, status), the new process (start) or the outcome (down) as JSON
  -h, --help    show this help

Needs redis-server and nginx (Debian packages redis-server and nginx), and the repository checkout
(deploy/nginx). "zerodrop drill" starts labs of its own; it does not use this one.`;

const OPTIONS = { dir: { kind: 'value' }, json: { kind: 'flag' } } as const;

export async function labCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv, OPTIONS, 'lab');
  const [sub, ...extra] = args.positionals;
  const dir = args.value('dir') ?? DEFAULT_LAB_DIR;
  const json = args.has('json');
  if (sub === 'start') return start(dir, extra, json);
  if (extra.length > 0) throw new UsageError(`lab ${sub} takes no arguments`, 'lab');
  switch (sub) {
    case 'up':
      return up(dir, json);
    case 'down':
      return down(dir, json);
    case 'status':
      return status(dir, json);
    case undefined:
      throw new UsageError('name a subcommand: up, down, status or start', 'lab');
    default:
      throw new UsageError(`unknown subcommand "${sub}" (up, down, status or start)`, 'lab');
  }
}

async function up(dir: string, json: boolean): Promise<number> {
  const state = await labUp(dir).catch((err: Error) => {
    throw new CliError(`lab up: ${err.message}`);
  });
  if (json) {
    console.log(JSON.stringify(state, null, 2));
    return 0;
  }
  const pid = (name: string) => String(state.processes.find((p) => p.name === name)?.pid ?? '-');
  console.log(`zerodrop lab is up (state: ${statePath(dir)})\n`);
  console.log(
    renderTable(
      [
        ['devices', state.wsUrl, '', 'connect through nginx'],
        ['nginx', state.nginxUrl, pid('nginx'), 'deploy/nginx configuration'],
        ['app', state.instances.app, pid('app'), 'zerodrop serve'],
        ['app_replica', state.instances.app_replica, pid('app_replica'), 'zerodrop serve'],
        ['redis', state.redisUrl, pid('redis'), `RDB snapshots: save "${RUNBOOK_SAVE}"`],
      ],
      { header: ['service', 'url', 'pid', ''] },
    ),
  );
  console.log(`
admin token    ${state.secrets.adminToken}
service token  ${state.secrets.serviceToken}
device secret  ${state.secrets.deviceSecret}

# The runbook's commands against this lab:
export ZERODROP_URL=${state.instances.app} ZERODROP_ADMIN_TOKEN=${state.secrets.adminToken}
export ZERODROP_DEVICE_SECRETS=${state.secrets.deviceSecret} A=${state.instances.app} B=${state.instances.app_replica}
zerodrop metrics --url $A --url $B
zerodrop lab down        # stops exactly these processes`);
  return 0;
}

async function start(dir: string, names: readonly string[], json: boolean): Promise<number> {
  const [name, ...extra] = names;
  if (name === undefined || extra.length > 0 || !RESTARTABLE.includes(name as LabService))
    throw new UsageError(`lab start takes one service: ${RESTARTABLE.join(', ')}`, 'lab');
  const started = await labStart(dir, name as LabService).catch((err: Error) => {
    throw new CliError(`lab start: ${err.message}`);
  });
  if (json) console.log(JSON.stringify(started, null, 2));
  else console.log(`${started.name} started: pid ${started.pid}, ${started.url} (log ${started.log})`);
  return 0;
}

async function down(dir: string, json: boolean): Promise<number> {
  const outcomes = await labDown(dir).catch((err: Error) => {
    throw new CliError(`lab down: ${err.message}`);
  });
  if (json) console.log(JSON.stringify({ processes: outcomes }, null, 2));
  else {
    console.log(
      renderTable(
        outcomes.map((o) => [o.name, String(o.pid), o.outcome]),
        { header: ['service', 'pid', 'outcome'] },
      ),
    );
    console.log('\nlab down: state file and lab directories removed (logs kept)');
  }
  return 0;
}

async function status(dir: string, json: boolean): Promise<number> {
  const state: LabState | undefined = readState(dir);
  if (!state)
    throw new CliError(`no lab: ${statePath(dir)} does not exist (start one with "zerodrop lab up")`);
  const services = await labStatus(state);
  if (json)
    console.log(JSON.stringify({ createdAt: state.createdAt, wsUrl: state.wsUrl, services }, null, 2));
  else {
    console.log(`lab started ${state.createdAt}; devices connect to ${state.wsUrl}\n`);
    console.log(
      renderTable(
        services.map((s) => [s.name, s.url, String(s.pid), s.running ? 'running' : 'NOT RUNNING', s.health]),
        { header: ['service', 'url', 'pid', 'process', 'answers'] },
      ),
    );
  }
  return services.every((s) => s.running) ? 0 : 1;
}
