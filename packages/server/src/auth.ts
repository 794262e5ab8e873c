/**
 * Device authentication at the upgrade, before a socket costs anything. The default scheme is an
 * HMAC-signed token over the device id and a timestamp with a per-fleet secret:
 *
 *   token   = "v1." + deviceId + "." + unixSeconds + "." + base64url(HMAC-SHA256(secret, "v1." + deviceId + "." + unixSeconds))
 *
 * sent as `Authorization: Bearer <token>` or, where a client cannot set headers (browsers, some
 * firmware libraries), as the `token` query parameter of the WebSocket URL. Several secrets may be
 * configured at once (key rotation: the first signs new tokens, every one verifies). A token is valid
 * while its timestamp is within the clock-skew window of the gateway's clock. Each refusal has a
 * reason an operator can act on: `clock_skew` (the device's clock is ahead), `expired` (too old: a
 * replayed token or a clock behind), `bad_signature` (a wrong secret, or an attack), `malformed`, and
 * `unknown_device` (from custom hooks that check a device registry). Any other scheme plugs in as an
 * `authenticate(request)` hook with the same result type.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isValidDeviceId } from '@zerodrop/protocol';

export const AUTH_FAILURE_REASONS = [
  'bad_signature',
  'expired',
  'clock_skew',
  'unknown_device',
  'malformed',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

export type AuthResult = { ok: true; deviceId: string } | { ok: false; reason: AuthFailureReason };

/** Decides whether an upgrade request may become a device connection, and for which device. */
export type Authenticator = (req: IncomingMessage) => AuthResult | Promise<AuthResult>;

const TOKEN = /^v1\.([A-Za-z0-9._:@-]{1,128})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** The token of an upgrade request: the bearer token, else the `token` query parameter. */
export function tokenFromRequest(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const bearer = h ? /^Bearer\s+(\S+)\s*$/i.exec(h)?.[1] : undefined;
  if (bearer) return bearer;
  const q = (req.url ?? '').indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams((req.url ?? '').slice(q + 1)).get('token') ?? undefined;
}

export function signDeviceToken(secret: string, deviceId: string, unixSeconds: number): string {
  const body = `v1.${deviceId}.${unixSeconds}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Verify a token against every secret (constant time per comparison). */
export function verifyDeviceToken(
  token: string | undefined,
  options: { secrets: readonly string[]; skewMs: number; nowMs: number },
): AuthResult {
  const m = token ? TOKEN.exec(token) : null;
  if (!m || !isValidDeviceId(m[1])) return { ok: false, reason: 'malformed' };
  const [, deviceId, ts, signature] = m as unknown as [string, string, string, string];
  const body = `v1.${deviceId}.${ts}`;
  const presented = Buffer.from(signature, 'base64url');
  const valid = options.secrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(body).digest();
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  });
  if (!valid) return { ok: false, reason: 'bad_signature' };
  const at = Number(ts) * 1000;
  if (at > options.nowMs + options.skewMs) return { ok: false, reason: 'clock_skew' };
  if (at < options.nowMs - options.skewMs) return { ok: false, reason: 'expired' };
  return { ok: true, deviceId };
}

export function createHmacAuthenticator(options: {
  secrets: readonly string[];
  skewMs: number;
  now?: () => number;
}): Authenticator {
  const now = options.now ?? Date.now;
  return (req) =>
    verifyDeviceToken(tokenFromRequest(req), {
      secrets: options.secrets,
      skewMs: options.skewMs,
      nowMs: now(),
    });
}
