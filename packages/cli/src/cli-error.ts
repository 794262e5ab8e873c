/**
 * The two ways a command fails. A `CliError` is a problem with the gateway or the operation (exit 1);
 * a `UsageError` is a problem with the command line itself (exit 2), so scripts can tell "the
 * gateway said no" from "I typed it wrong". Messages never carry a token.
 */

export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string, command?: string) {
    super(command ? `${message}\nRun "zerodrop ${command} --help" for its options.` : message, 2);
    this.name = 'UsageError';
  }
}
