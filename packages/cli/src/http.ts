/**
 * The CLI's one way to talk to a gateway: a JSON request with an optional bearer token and a timeout,
 * and every failure turned into a `GatewayError` an operator can act on ("cannot reach …: connection
 * refused", "the gateway refused the admin token (401 unauthorized)", or the gateway's own error code
 * and message). The token goes into the Authorization header and nowhere else.
 */
import { CliError } from './cli-error.js';
import { displayUrl, type GatewayTarget } from './gateway-options.js';

/** `unreachable` and `timeout` are about the network; the rest are answers from something that listens. */
export type GatewayErrorKind = 'unreachable' | 'timeout' | 'unauthorized' | 'refused' | 'bad_response';

export class GatewayError extends CliError {
  readonly kind: GatewayErrorKind;
  /** The HTTP status and the gateway's error code, when it answered. */
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(kind: GatewayErrorKind, message: string, status?: number, code?: string) {
    super(message);
    this.name = 'GatewayError';
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

export interface GatewayResponse<T> {
  readonly status: number;
  readonly body: T;
  /** The body exactly as received (for `--json`). */
  readonly text: string;
  /** The gateway's clock when it answered (see `serverTime`). */
  readonly serverTime: number;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Aborts the request (Ctrl-C); the abort error is rethrown as is. */
  readonly signal?: AbortSignal;
}

/** Why a connection failed, in words, from Node's error codes. */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
};

export async function requestJson<T>(
  target: GatewayTarget,
  method: 'GET' | 'POST',
  path: string,
  options: RequestOptions = {},
): Promise<GatewayResponse<T>> {
  const where = displayUrl(target.url);
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';

  let res: Response;
  let text: string;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      // Never follow a redirect: it would carry the token (or a POST) somewhere the operator did not name.
      redirect: 'manual',
    });
    text = await res.text();
  } catch (err) {
    if (options.signal?.aborted) throw err;
    if (timeout.aborted) {
      throw new GatewayError(
        'timeout',
        `${where} did not answer ${method} ${path} within ${target.timeoutMs / 1000} s`,
      );
    }
    throw new GatewayError('unreachable', `cannot reach ${where}: ${networkReason(err)}`);
  }

  const parsed = parseJson(text);
  // Only a request that carried the token can have had it refused; any other 401 is reported as is.
  if (res.status === 401 && target.token !== undefined) {
    throw new GatewayError(
      'unauthorized',
      'the gateway refused the admin token (401 unauthorized)',
      401,
      'unauthorized',
    );
  }
  if (res.status >= 300 && res.status < 400) {
    throw new GatewayError(
      'bad_response',
      `${where} redirects ${path} to ${res.headers.get('location') ?? 'elsewhere'}; pass the gateway's own URL with --url`,
      res.status,
    );
  }
  if (!res.ok) {
    const error = gatewayErrorOf(parsed);
    if (error) {
      throw new GatewayError(
        'refused',
        `${where} answered ${res.status} ${error.code}: ${error.message}`,
        res.status,
        error.code,
      );
    }
    throw new GatewayError(
      'bad_response',
      `${where} answered ${method} ${path} with ${res.status} ${res.statusText} and no gateway error (is it a zerodrop gateway, or a proxy in front of it?)`,
      res.status,
    );
  }
  if (parsed === undefined || parsed === null || typeof parsed !== 'object') {
    throw new GatewayError(
      'bad_response',
      `${where} answered ${method} ${path} with ${res.status} but not with JSON (${res.headers.get('content-type') ?? 'no content type'})`,
      res.status,
    );
  }
  return { status: res.status, body: parsed as T, text: text.trim(), serverTime: serverTime(res) };
}

/**
 * The gateway's clock. Its Date header has whole seconds, so when it agrees with ours to within that
 * (the usual case) our own, finer clock is used; otherwise the header is, and a skewed local clock
 * does not move a deadline.
 */
function serverTime(res: Response): number {
  const now = Date.now();
  const date = Date.parse(res.headers.get('date') ?? '');
  return Number.isNaN(date) || Math.abs(now - date) < 1500 ? now : date;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function gatewayErrorOf(body: unknown): { code: string; message: string } | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.code !== 'string') return undefined;
  return { code: error.code, message: typeof error.message === 'string' ? error.message : '' };
}

function networkReason(err: unknown): string {
  // fetch wraps the socket error: TypeError('fetch failed', { cause }); a host with several addresses
  // gives an AggregateError whose first error says why.
  const cause = (err as { cause?: unknown }).cause ?? err;
  const inner = (cause as { errors?: unknown[] }).errors?.[0] ?? cause;
  for (const e of [cause, inner]) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return NETWORK_REASONS[code] ?? `${code.toLowerCase()}`;
  }
  return (inner as Error).message ?? String(inner);
}
