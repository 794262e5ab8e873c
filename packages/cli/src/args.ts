/**
 * A small, strict command-line parser: `--name value`, `--name=value`, flags, repeatable options and
 * options whose value is optional (`--watch` or `--watch 0.5`). Anything it does not know is a usage
 * error (exit 2) naming the option, never ignored: a mistyped `--max-age` must not start a drain with
 * the default window.
 */
import { UsageError } from './cli-error.js';

/** `flag`: no value; `value`: one required value; `optional-value`: a value only if one follows. */
export type OptionKind = 'flag' | 'value' | 'optional-value';

export interface OptionSpec {
  readonly kind: OptionKind;
  /** May be given more than once (every value is kept); otherwise a second use is an error. */
  readonly multiple?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** Whether the option was given (with or without a value). */
  has(name: string): boolean;
  /** Its value; `''` for an optional-value option given bare; undefined when not given. */
  value(name: string): string | undefined;
  /** Every value of a repeatable option, in order. */
  values(name: string): string[];
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** Parse `argv` against `specs`; `command` names the command in usage errors ("drain start"). */
export function parseArgs(argv: readonly string[], specs: OptionSpecs, command: string): ParsedArgs {
  const given = new Map<string, string[]>();
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(message, command);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) fail(`unknown option ${arg}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) return fail(`unknown option --${name}`);

    let value: string;
    const next = argv[i + 1];
    if (spec.kind === 'flag') {
      if (inline !== undefined) fail(`--${name} takes no value`);
      value = '';
    } else if (inline !== undefined) {
      if (spec.kind === 'value' && inline === '') fail(`--${name} needs a value`);
      value = inline;
    } else if (spec.kind === 'value') {
      if (next === undefined || next.startsWith('--')) fail(`--${name} needs a value`);
      value = next!;
      i++;
    } else if (next !== undefined && !next.startsWith('-')) {
      value = next;
      i++;
    } else {
      value = '';
    }

    const seen = given.get(name);
    if (seen && !spec.multiple) fail(`--${name} is given more than once`);
    if (seen) seen.push(value);
    else given.set(name, [value]);
  }

  return {
    positionals,
    has: (name) => given.has(name),
    value: (name) => given.get(name)?.at(-1),
    values: (name) => given.get(name) ?? [],
  };
}

/** Usage error when a command that takes no arguments got some (their values are not echoed: one may be a secret). */
export function expectNoPositionals(args: ParsedArgs, command: string): void {
  const n = args.positionals.length;
  if (n > 0) throw new UsageError(`zerodrop ${command} takes no arguments, got ${n}`, command);
}

/** A number of seconds from an option's value, or a usage error naming the option. */
export function parseSeconds(raw: string, option: string, command: string, min: number): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${option} expects a number of seconds of at least ${min}, not "${raw}"`, command);
  }
  return n;
}

/** A whole number from an option's value, or a usage error naming the option. */
export function parseCount(raw: string, option: string, command: string, min: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${option} expects a whole number of at least ${min}, not "${raw}"`, command);
  }
  return n;
}
