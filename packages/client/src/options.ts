/**
 * The SDK's options, their defaults, and their validation. Every limit is an option with a safe default;
 * an unknown or out-of-range option fails `createClient` at once with `invalid_config`, instead of
 * surfacing later as a device that silently never connects.
 */
import { createError, DEFAULT_MAX_UNACKED, Errors, isValidDeviceId } from '@zerodrop/protocol';
import { type BackoffOptions, type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.js';
import type { WebSocketConstructor } from './transport.js';

export interface ClientOptions {
  /** Gateway endpoint, e.g. `wss://gateway.example.com/ws`. */
  url: string;
  /** This device's id (letters, digits and `._:@-`, up to 128 characters). */
  deviceId: string;
  /** WebSocket implementation; default the global one, else the `ws` package (Node). */
  WebSocket?: WebSocketConstructor;
  /** HTTP headers for the upgrade request (auth, `X-Affinity-Key`). Node only: they make the SDK use `ws`. */
  headers?: Record<string, string>;
  /** Bound of the outgoing queue: messages accepted and not yet acknowledged. Default 200. */
  maxUnacked?: number;
  /** Longest wait before a standalone ack for delivered messages. Default 20 ms. */
  ackDelayMs?: number;
  /** Deliveries after which an ack goes out at once. Default 32. */
  ackBatchSize?: number;
  /** Time from dialling to the welcome before the attempt is abandoned. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long `close()` waits for the closing handshake. Default 1 000 ms. */
  closeTimeoutMs?: number;
  /** Reconnect backoff (capped exponential, full jitter). */
  backoff?: BackoffOptions;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
  /** Connect from `createClient` on. Default true; otherwise call `connect()`. */
  autoConnect?: boolean;
  /**
   * Device token for the gateway's authentication, or a function called before every connection
   * attempt (so a token minted from the clock stays fresh). Sent as `Authorization: Bearer` where
   * headers can be sent (Node), else as the `token` query parameter.
   */
  token?: string | (() => string | Promise<string>);
}

export interface ResolvedOptions {
  readonly url: string;
  readonly deviceId: string;
  readonly WebSocket: WebSocketConstructor | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly maxUnacked: number;
  readonly ackDelayMs: number;
  readonly ackBatchSize: number;
  readonly handshakeTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly backoff: BackoffPolicy;
  readonly random: () => number;
  readonly autoConnect: boolean;
  readonly token: string | (() => string | Promise<string>) | undefined;
}

const KNOWN = new Set<string>([
  'url',
  'deviceId',
  'WebSocket',
  'headers',
  'maxUnacked',
  'ackDelayMs',
  'ackBatchSize',
  'handshakeTimeoutMs',
  'closeTimeoutMs',
  'backoff',
  'random',
  'autoConnect',
  'token',
]);
const KNOWN_BACKOFF = new Set<string>(['initialMs', 'maxMs', 'factor']);

function invalid(message: string): never {
  throw createError(Errors.INVALID_CONFIG, `invalid client option: ${message}`);
}

function unknownKeys(obj: object, known: ReadonlySet<string>, where: string): void {
  for (const key of Object.keys(obj)) if (!known.has(key)) invalid(`unknown option ${where}${key}`);
}

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) invalid(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

function duration(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    invalid(`${name} must be a number of milliseconds >= ${min}, got ${String(v)}`);
  }
  return v;
}

function resolveUrl(url: unknown): string {
  if (typeof url !== 'string') invalid('url is required');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    invalid(`url ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') invalid(`url must start with ws:// or wss://`);
  return url;
}

function resolveHeaders(headers: unknown): Readonly<Record<string, string>> | undefined {
  if (headers === undefined) return undefined;
  if (headers === null || typeof headers !== 'object') invalid('headers must be an object of strings');
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') invalid(`header ${name} must be a string`);
  }
  return { ...(headers as Record<string, string>) };
}

function resolveBackoff(backoff: BackoffOptions | undefined): BackoffPolicy {
  if (backoff === undefined) return DEFAULT_BACKOFF;
  unknownKeys(backoff, KNOWN_BACKOFF, 'backoff.');
  const initialMs = duration('backoff.initialMs', backoff.initialMs, DEFAULT_BACKOFF.initialMs, 1);
  const maxMs = duration('backoff.maxMs', backoff.maxMs, Math.max(DEFAULT_BACKOFF.maxMs, initialMs), 1);
  const factor = duration('backoff.factor', backoff.factor, DEFAULT_BACKOFF.factor, 1);
  if (maxMs < initialMs) invalid(`backoff.maxMs (${maxMs}) is below backoff.initialMs (${initialMs})`);
  return { initialMs, maxMs, factor };
}

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') invalid('options object is required');
  unknownKeys(options, KNOWN, '');
  if (!isValidDeviceId(options.deviceId)) {
    invalid('deviceId must be 1–128 characters of letters, digits and ._:@-');
  }
  if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
    invalid('WebSocket must be a constructor');
  }
  if (options.random !== undefined && typeof options.random !== 'function')
    invalid('random must be a function');
  if (options.autoConnect !== undefined && typeof options.autoConnect !== 'boolean') {
    invalid('autoConnect must be a boolean');
  }
  return {
    url: resolveUrl(options.url),
    deviceId: options.deviceId,
    WebSocket: options.WebSocket,
    headers: resolveHeaders(options.headers),
    maxUnacked: integer('maxUnacked', options.maxUnacked, DEFAULT_MAX_UNACKED, 1),
    ackDelayMs: duration('ackDelayMs', options.ackDelayMs, 20, 0),
    ackBatchSize: integer('ackBatchSize', options.ackBatchSize, 32, 1),
    handshakeTimeoutMs: duration('handshakeTimeoutMs', options.handshakeTimeoutMs, 10_000, 1),
    closeTimeoutMs: duration('closeTimeoutMs', options.closeTimeoutMs, 1_000, 0),
    backoff: resolveBackoff(options.backoff),
    random: options.random ?? Math.random,
    autoConnect: options.autoConnect ?? true,
    token: options.token,
  };
}
