#!/usr/bin/env node
/**
 * The `zerodrop` command. Each subcommand lives in `commands/` and is loaded only when it runs (the
 * operations commands do not load the gateway); this file only dispatches and turns a thrown error
 * into a clear message and an exit code: 1 when the gateway or the operation failed, 2 for a usage
 * error.
 */
import { isZerodropError } from '@zerodrop/protocol';
import { CliError } from './cli-error.js';

type Command = (argv: string[]) => Promise<number>;

interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: Record<string, CommandEntry> = {
  serve: {
    summary: 'Run the gateway (embedded store unless REDIS_URL is set).',
    load: async () => (await import('./commands/serve.js')).serveCommand,
  },
  drain: {
    summary: 'Start, follow, complete or cancel a drain of one instance (admin API).',
    load: async () => (await import('./commands/drain.js')).drainCommand,
  },
  metrics: {
    summary: 'Show ws_metrics and resume_store_metrics of one or more instances.',
    load: async () => (await import('./commands/metrics.js')).metricsCommand,
  },
  verify: {
    summary: 'Check zero drops, resume success rate and RTT p95 against the runbook targets.',
    load: async () => (await import('./commands/verify.js')).verifyCommand,
  },
  token: {
    summary: 'Mint a device token with the fleet secret, for testing devices and curl.',
    load: async () => (await import('./commands/token.js')).tokenCommand,
  },
  lab: {
    summary: 'Start, inspect or stop a local cluster: Redis, app and app_replica, nginx.',
    load: async () => (await import('./commands/lab.js')).labCommand,
  },
  drill: {
    summary: 'Run a runbook scenario on a local cluster under traffic and prove zero drops.',
    load: async () => (await import('./commands/drill.js')).drillCommand,
  },
};

const USAGE = `Usage: zerodrop <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join('\n')}

Run "zerodrop <command> --help" for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    console.error(USAGE);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    console.error(`zerodrop: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return (await entry.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      console.error(`zerodrop: ${err.message}`);
      process.exitCode = err.exitCode;
    } else if (isZerodropError(err)) {
      console.error(`zerodrop: ${err.message} [${err.code}]`);
      process.exitCode = 1;
    } else {
      console.error(`zerodrop: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
    }
  },
);
