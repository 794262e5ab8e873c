/**
 * Upgrade admission: the checks a WebSocket upgrade passes before it costs a socket, cheapest first —
 * path, drain, capacity, handshakes still pending, browser Origin, connections per client address,
 * then device authentication. Each refusal is an HTTP status with a registry code, counted in
 * `ws_upgrades_rejected_total{reason}` (and authentication failures in `ws_auth_failures_total`).
 */
import type { IncomingMessage } from 'node:http';
import { type ErrorSpec, Errors } from '@zerodrop/protocol';
import type { Authenticator, AuthFailureReason } from './auth.js';
import type { UpgradeRejectReason } from './metrics.js';

export type Admitted = { ok: true; ip: string; deviceId: string | undefined };
export type Refused = {
  ok: false;
  reason: UpgradeRejectReason;
  error: ErrorSpec;
  authReason?: AuthFailureReason;
  retryAfter?: boolean;
};

export interface AdmissionLimits {
  wsPath: string;
  maxConnections: number;
  maxPendingHandshakes: number;
  maxConnectionsPerIp: number;
  trustedProxies: readonly string[];
  allowedOrigins: readonly string[];
}

export interface AdmissionState {
  accepting(): boolean;
  draining(): boolean;
  connections(): number;
  pendingHandshakes(): number;
}

export function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #state: AdmissionState;
  readonly #authenticate: Authenticator | undefined;
  readonly #perIp = new Map<string, number>();
  /** Upgrades admitted and not yet a connection (authenticating or upgrading). */
  #inFlight = 0;

  constructor(limits: AdmissionLimits, state: AdmissionState, authenticate: Authenticator | undefined) {
    this.#limits = limits;
    this.#state = state;
    this.#authenticate = authenticate;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The client's address: the peer, or behind a trusted proxy the last untrusted X-Forwarded-For hop. */
  clientIp(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    if (!xff || !this.#limits.trustedProxies.includes(peer)) return peer;
    const hops = parseList(Array.isArray(xff) ? xff.join(',') : xff);
    for (let i = hops.length - 1; i >= 0; i--)
      if (!this.#limits.trustedProxies.includes(hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  }

  /**
   * Decide on an upgrade. An admitted upgrade holds a slot (in flight, and one for its address) until
   * `settle(ip, becameConnection)` is called exactly once.
   */
  async admit(req: IncomingMessage): Promise<Admitted | Refused> {
    const path = (req.url ?? '/').split('?')[0];
    const l = this.#limits;
    if (path !== l.wsPath) return { ok: false, reason: 'not_found', error: Errors.NOT_FOUND };
    if (!this.#state.accepting()) {
      return { ok: false, reason: 'draining', error: Errors.DRAINING, retryAfter: true };
    }
    if (this.#state.connections() + this.#inFlight >= l.maxConnections) {
      return { ok: false, reason: 'over_capacity', error: Errors.OVER_CAPACITY, retryAfter: true };
    }
    if (this.#state.pendingHandshakes() + this.#inFlight >= l.maxPendingHandshakes) {
      return { ok: false, reason: 'too_many_pending', error: Errors.TOO_MANY_PENDING, retryAfter: true };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !l.allowedOrigins.includes('*') && !l.allowedOrigins.includes(origin)) {
      return { ok: false, reason: 'origin_not_allowed', error: Errors.ORIGIN_NOT_ALLOWED };
    }
    const ip = this.clientIp(req);
    if ((this.#perIp.get(ip) ?? 0) >= l.maxConnectionsPerIp) {
      return {
        ok: false,
        reason: 'too_many_from_address',
        error: Errors.TOO_MANY_FROM_ADDRESS,
        retryAfter: true,
      };
    }
    this.#inFlight++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    if (!this.#authenticate) return { ok: true, ip, deviceId: undefined };
    let result: Awaited<ReturnType<Authenticator>>;
    try {
      result = await this.#authenticate(req);
    } catch {
      result = { ok: false, reason: 'malformed' };
    }
    if (result.ok) return { ok: true, ip, deviceId: result.deviceId };
    this.settle(ip, false);
    return {
      ok: false,
      reason: 'unauthorized',
      error: Errors.DEVICE_UNAUTHORIZED,
      authReason: result.reason,
    };
  }

  /** The admitted upgrade is over: it became a connection (which keeps its address slot) or failed. */
  settle(ip: string, becameConnection: boolean): void {
    this.#inFlight--;
    if (!becameConnection) this.release(ip);
  }

  /** A connection from `ip` closed. */
  release(ip: string): void {
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }
}
