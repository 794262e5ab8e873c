/**
 * `zerodrop drain start|status|complete|cancel`: the admin API's drain, at the runbook's paths
 * (`/admin/drain/*`). The gateway owns the drain (batches, deadline, closing what is left); this
 * command only asks for it and shows the status the gateway returns, every field, in its order.
 * `status --watch` follows a drain until it is drained, bounded by the gateway's deadline + 10 s.
 */
import {
  expectNoPositionals,
  type OptionSpecs,
  type ParsedArgs,
  parseArgs,
  parseCount,
  wantsHelp,
} from '../args.js';
import { CliError, UsageError } from '../cli-error.js';
import {
  ADMIN_OPTIONS,
  adminToken,
  displayUrl,
  type GatewayTarget,
  gatewayUrls,
  OPTION_HELP,
  timeoutMs,
} from '../gateway-options.js';
import { GatewayError, type GatewayResponse, requestJson } from '../http.js';
import { formatSeconds, formatValue, type Row, renderTable } from '../table.js';
import { interruptOnSigint, pause, printRefresh } from '../watch.js';

/** The fields of the gateway's drain status this command reads; every other field is shown as is. */
interface DrainStatus {
  readonly state: 'serving' | 'draining' | 'drained';
  readonly deadline: string | null;
  readonly sessions_remaining: number;
  readonly [field: string]: unknown;
}

const WATCH_EVERY_MS = 1000;
/** How long `status --watch` waits past the gateway's deadline before it gives up. */
const WATCH_SLACK_MS = 10_000;
/** Exit code of a watch stopped with Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED = 130;

const ADMIN_HELP = [
  OPTION_HELP.token,
  OPTION_HELP.url,
  OPTION_HELP.timeout,
  OPTION_HELP.json,
  OPTION_HELP.help,
].join('\n');

const HELP = `Usage: zerodrop drain <start|status|complete|cancel> [options]

Moves every device off one gateway instance without losing a message (rolling deploy, scale-down).
From "start" the instance accepts no new device (/health/ready answers 503), asks the connected ones
to reconnect elsewhere in batches, and at the deadline closes what is left once its messages are
stored. "complete" does that at once; "cancel" returns the instance to serving.

Subcommands:
  start     start a drain: --reason <text> (required), --max-age <seconds> (the deadline;
            default: the gateway's ZERODROP_DRAIN_GRACE)
  status    show the drain; --watch refreshes every second until it is drained
  complete  close the devices still connected now and finish the drain
  cancel    stop a drain (or leave drained) and accept devices again

Options:
${ADMIN_HELP}

Run "zerodrop drain <subcommand> --help" for one subcommand. Exit codes: 0 done, 1 the gateway
refused or could not be reached, 2 a usage error.`;

const START_HELP = `Usage: zerodrop drain start --reason <text> [--max-age <seconds>] [options]

Starts draining the instance at --url: it stops accepting devices at once, asks the connected ones to
reconnect elsewhere in batches, and closes whatever is left at the deadline (now + --max-age). Prints
the drain status. Refused (409 drain_in_progress) while a drain runs or after one finished: cancel it
first.

  --reason <text>    why (1 to 200 characters), logged by the gateway and shown in the status
  --max-age <s>      seconds until the deadline (0 to 86400; default: the gateway's
                     ZERODROP_DRAIN_GRACE, 30 s unless configured)
${ADMIN_HELP}`;

const STATUS_HELP = `Usage: zerodrop drain status [--watch] [options]

Prints the drain status of the instance at --url: state (serving, draining, drained), reason,
deadline, sessions at start, remaining and moved, reconnect hints sent, upgrades blocked.

  --watch            refresh every second until the state is drained (exit 0); gives up 10 s after
                     the deadline (exit 1) or when the drain is cancelled (exit 1); Ctrl-C stops
                     watching (exit 130), not the drain; with --json, one JSON document per refresh
${ADMIN_HELP}`;

const COMPLETE_HELP = `Usage: zerodrop drain complete [options]

Finishes the drain now: the devices still connected are closed with a reconnect code once their
messages are in the resume store, and the state becomes drained. Works without a prior start, too.

${ADMIN_HELP}`;

const CANCEL_HELP = `Usage: zerodrop drain cancel [options]

Cancels a drain, or leaves the drained state: the instance accepts devices again (/health/ready
answers 200). Devices already moved stay where they are.

${ADMIN_HELP}`;

interface DrainRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

interface Subcommand {
  readonly help: string;
  readonly options: OptionSpecs;
  /** The request to make; usage errors are thrown here, before the token is looked at. */
  request(args: ParsedArgs): DrainRequest;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  start: {
    help: START_HELP,
    options: { ...ADMIN_OPTIONS, reason: { kind: 'value' }, 'max-age': { kind: 'value' } },
    request(args) {
      const reason = args.value('reason');
      if (reason === undefined) throw new UsageError('drain start needs --reason <text>', 'drain start');
      const maxAge = args.value('max-age');
      const body: Record<string, unknown> = { reason };
      // Without --max-age the gateway applies its own default (ZERODROP_DRAIN_GRACE).
      if (maxAge !== undefined)
        body.max_session_age_seconds = parseCount(maxAge, 'max-age', 'drain start', 0);
      return { method: 'POST', path: '/admin/drain/start', body };
    },
  },
  status: {
    help: STATUS_HELP,
    options: { ...ADMIN_OPTIONS, watch: { kind: 'flag' } },
    request: () => ({ method: 'GET', path: '/admin/drain/status' }),
  },
  complete: {
    help: COMPLETE_HELP,
    options: ADMIN_OPTIONS,
    request: () => ({ method: 'POST', path: '/admin/drain/complete' }),
  },
  cancel: {
    help: CANCEL_HELP,
    options: ADMIN_OPTIONS,
    request: () => ({ method: 'POST', path: '/admin/drain/cancel' }),
  },
};

export async function drainCommand(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(HELP);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return 0;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) throw new UsageError(`unknown drain subcommand "${name}"`, 'drain');
  if (wantsHelp(rest)) {
    console.log(sub.help);
    return 0;
  }
  const command = `drain ${name}`;
  const args = parseArgs(rest, sub.options, command);
  expectNoPositionals(args, command);
  const [url] = gatewayUrls(args, process.env, command);
  const timeout = timeoutMs(args, command);
  const request = sub.request(args);
  // Usage errors (exit 2) come before a missing token (exit 1).
  const target: GatewayTarget = { url: url!, timeoutMs: timeout, token: adminToken(args, process.env) };
  const json = args.has('json');
  if (args.has('watch')) return watchStatus(target, json);
  const res = await requestJson<DrainStatus>(target, request.method, request.path, { body: request.body });
  console.log(json ? res.text : renderStatus(target, res));
  return 0;
}

/** Every field the gateway returned, in its order; the deadline also as time left on the gateway's clock. */
function renderStatus(target: GatewayTarget, res: GatewayResponse<DrainStatus>): string {
  const rows: Row[] = [['gateway', displayUrl(target.url)]];
  for (const [field, value] of Object.entries(res.body)) {
    let cell = formatValue(value);
    if (field === 'deadline' && typeof value === 'string' && res.body.state === 'draining') {
      const left = (Date.parse(value) - res.serverTime) / 1000;
      cell += left >= 0 ? ` (in ${formatSeconds(left)})` : ` (${formatSeconds(left)} ago)`;
    }
    rows.push([field, cell]);
  }
  return renderTable(rows);
}

/**
 * Poll the status every second until drained. The bound is computed on the gateway's clock (its Date
 * header), so a skewed local clock neither cuts a watch short nor makes it run on. A connection
 * failure after the first answer is shown and retried until the bound (the instance may be busy
 * closing devices); any other failure ends the watch.
 */
async function watchStatus(target: GatewayTarget, json: boolean): Promise<number> {
  const where = displayUrl(target.url);
  const interrupt = interruptOnSigint();
  const { signal } = interrupt;
  let giveUpAt: number | undefined;
  let last: DrainStatus | undefined;
  try {
    for (let first = true; ; first = false) {
      if (!first) await pause(WATCH_EVERY_MS, signal);
      if (signal.aborted) break;
      let res: GatewayResponse<DrainStatus>;
      try {
        res = await requestJson<DrainStatus>(target, 'GET', '/admin/drain/status', { signal });
      } catch (err) {
        if (signal.aborted) break;
        const network = err instanceof GatewayError && (err.kind === 'unreachable' || err.kind === 'timeout');
        if (giveUpAt === undefined || !network) throw err;
        if (Date.now() >= giveUpAt)
          throw new CliError(`${(err as Error).message}; gave up watching the drain`);
        console.error(`zerodrop: ${(err as Error).message}; retrying`);
        continue;
      }
      const status = res.body;
      last = status;
      if (json) console.log(res.text);
      else printRefresh(renderStatus(target, res) + watchFooter(status), first);

      if (status.state === 'drained') return 0;
      if (status.state === 'serving') {
        throw new CliError(
          first
            ? `no drain in progress on ${where} (state serving): nothing to watch`
            : `the drain on ${where} was cancelled: the instance is serving again`,
        );
      }
      const deadline = status.deadline === null ? Number.NaN : Date.parse(status.deadline);
      giveUpAt = Number.isNaN(deadline)
        ? (giveUpAt ?? Date.now() + WATCH_SLACK_MS)
        : Date.now() + (deadline - res.serverTime) + WATCH_SLACK_MS;
      if (Date.now() >= giveUpAt) {
        throw new CliError(
          `${where} is still draining ${WATCH_SLACK_MS / 1000} s after its deadline (${status.deadline}) with ${status.sessions_remaining} sessions connected; "zerodrop drain complete" closes them now`,
        );
      }
    }
  } finally {
    interrupt.dispose();
  }
  console.error(`zerodrop: stopped watching; the drain goes on (state ${last?.state ?? 'unknown'})`);
  return INTERRUPTED;
}

function watchFooter(status: DrainStatus): string {
  if (status.state !== 'draining') return '';
  return `\n\nrefreshing every ${WATCH_EVERY_MS / 1000} s until drained; Ctrl-C stops watching, not the drain`;
}
