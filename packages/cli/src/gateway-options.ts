/**
 * How every operations command finds the gateway: `--url` (else `$ZERODROP_URL`, else
 * http://127.0.0.1:8000), the admin token (`--token`, else `$ZERODROP_ADMIN_TOKEN`) and `--timeout`.
 * The token is only ever put in an Authorization header; it is never printed or put in a message.
 */
import { type OptionSpecs, type ParsedArgs, parseSeconds } from './args.js';
import { CliError, UsageError } from './cli-error.js';

export const DEFAULT_URL = 'http://127.0.0.1:8000';
const DEFAULT_TIMEOUT_S = 10;

export const GATEWAY_OPTIONS: OptionSpecs = {
  url: { kind: 'value' },
  timeout: { kind: 'value' },
  json: { kind: 'flag' },
};

/** The same, with `--url` repeatable (commands that read several instances). */
export const MULTI_GATEWAY_OPTIONS: OptionSpecs = {
  ...GATEWAY_OPTIONS,
  url: { kind: 'value', multiple: true },
};

/** The same, plus the admin token (the /admin API). */
export const ADMIN_OPTIONS: OptionSpecs = { ...GATEWAY_OPTIONS, token: { kind: 'value' } };

/** Help lines of the options above, for each command's --help. */
export const OPTION_HELP = {
  url: `  --url <url>        the instance's HTTP base URL (default: $ZERODROP_URL, else ${DEFAULT_URL})`,
  urls: `  --url <url>        an instance; repeat for several (default: $ZERODROP_URL, else
                     ${DEFAULT_URL})`,
  token: `  --token <token>    admin token (default: $ZERODROP_ADMIN_TOKEN; prefer the variable: a
                     command-line argument is visible to other users in the process list)`,
  timeout: `  --timeout <s>      give up on a request after this many seconds (default: ${DEFAULT_TIMEOUT_S})`,
  json: "  --json             print the gateway's JSON as received instead of a table",
  help: '  -h, --help         show this help',
} as const;

export interface GatewayTarget {
  /** Base URL without a trailing slash. */
  readonly url: string;
  /** The admin token, when the command needs one. */
  readonly token?: string;
  readonly timeoutMs: number;
}

/** Every `--url` given (or the default), validated; usage error on a malformed URL. */
export function gatewayUrls(args: ParsedArgs, env: NodeJS.ProcessEnv, command: string): string[] {
  const given = args.values('url');
  const raw = given.length > 0 ? given : [env.ZERODROP_URL || DEFAULT_URL];
  return raw.map((u) => normalizeUrl(u, command));
}

export function timeoutMs(args: ParsedArgs, command: string): number {
  const raw = args.value('timeout');
  return raw === undefined ? DEFAULT_TIMEOUT_S * 1000 : parseSeconds(raw, 'timeout', command, 0.1) * 1000;
}

/** The admin token from `--token` or the environment; exit 1 when there is none. */
export function adminToken(args: ParsedArgs, env: NodeJS.ProcessEnv): string {
  const token = args.value('token') ?? env.ZERODROP_ADMIN_TOKEN;
  if (!token) throw new CliError('no admin token: pass --token or set ZERODROP_ADMIN_TOKEN');
  return token;
}

function normalizeUrl(raw: string, command: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: not a URL: "${raw}" (expected e.g. ${DEFAULT_URL})`, command);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url: expected an http:// or https:// URL, not "${url.protocol}"`, command);
  }
  if (url.search || url.hash) throw new UsageError('--url: a base URL takes no query or fragment', command);
  // fetch refuses them, and its message would repeat them; the admin token goes in --token.
  if (url.username || url.password)
    throw new UsageError('--url: a URL with user:password is not supported', command);
  return url.href.replace(/\/+$/, '');
}

/** A URL as shown in messages: without user:password. */
export function displayUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href.replace(/\/+$/, '');
}
