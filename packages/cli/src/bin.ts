#!/usr/bin/env node
/**
 * The `zerodrop` command. Each subcommand lives in `commands/`; this file only dispatches and turns a
 * thrown registry error into a clear message and a non-zero exit code.
 */
import { isZerodropError } from '@zerodrop/protocol';
import { serveCommand } from './commands/serve.js';

const USAGE = `Usage: zerodrop <command> [options]

Commands:
  serve     Run the gateway (embedded store unless REDIS_URL is set).

Run "zerodrop <command> --help" for a command's options.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  serve: serveCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`zerodrop: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
  },
  (err: unknown) => {
    if (isZerodropError(err)) console.error(`zerodrop: ${err.message} [${err.code}]`);
    else console.error(`zerodrop: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  },
);
