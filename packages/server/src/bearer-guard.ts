/**
 * Bearer-token checks for the HTTP APIs (admin, push): the token compared in constant time, a clear
 * refusal when no token is configured (never open by default), and failed attempts rate-limited per
 * client address so a token cannot be guessed at speed. Tokens never reach a log line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorSpec, Errors } from '@zerodrop/protocol';
import { sendError } from './http-api.js';
import { secretEquals } from './ids.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';

const WINDOW_MS = 60_000;

/** The bearer token of a request, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(h)?.[1];
}

export interface BearerGuardOptions {
  /** The API's name in logs (`admin`, `push`). */
  readonly api: string;
  readonly token: string | undefined;
  /** What a call gets while no token is configured. */
  readonly notConfigured: ErrorSpec;
  /** Failed attempts per address per minute before it is refused for a minute. */
  readonly limit: number;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly now?: () => number;
  /** The client's address (behind a trusted proxy, from X-Forwarded-For); default: the TCP peer. */
  readonly clientAddress?: (req: IncomingMessage) => string;
}

export function createBearerGuard(options: BearerGuardOptions) {
  const now = options.now ?? Date.now;
  const failures = new Map<string, { count: number; since: number }>();
  /** Answers the refusal itself and returns false, or returns true for an authenticated caller. */
  return function allow(req: IncomingMessage, res: ServerResponse, action: string): boolean {
    if (!options.token) {
      sendError(res, options.notConfigured);
      return false;
    }
    // Behind nginx the TCP peer is nginx: count failures per real client, or one guesser locks out everyone.
    const address = options.clientAddress?.(req) ?? req.socket.remoteAddress ?? '';
    const t = now();
    const seen = failures.get(address);
    if (seen && t - seen.since > WINDOW_MS) failures.delete(address);
    const current = failures.get(address);
    if (current && current.count >= options.limit) {
      sendError(res, Errors.TOO_MANY_AUTH_FAILURES, undefined, {
        'retry-after': String(Math.ceil((current.since + WINDOW_MS - t) / 1000)),
      });
      return false;
    }
    const token = bearerToken(req);
    if (token !== undefined && secretEquals(token, options.token)) return true;
    failures.set(address, { count: (current?.count ?? 0) + 1, since: current?.since ?? t });
    // Bounded: an address flood cannot grow the map past a few thousand entries for long.
    if (failures.size > 10_000) failures.delete(failures.keys().next().value as string);
    options.metrics.admin_auth_failures_total.inc();
    options.log.warn({ event: `${options.api}_auth_failed`, action, remote: address });
    sendError(res, Errors.UNAUTHORIZED, undefined, { 'www-authenticate': 'Bearer' });
    return false;
  };
}
