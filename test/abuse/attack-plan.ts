/**
 * What an attacker process of test/abuse.test.ts is told to do, and what it reports back. Shared by the
 * process that forks it (attackers.ts) and the process itself (attacker.ts), which runs on import and
 * so must never be imported by the test.
 */

/** Delay before a slot re-opens what the gateway closed or refused: uniform in [min, max] ms. */
export interface Reopen {
  readonly minMs: number;
  readonly maxMs: number;
}

interface PlanBase {
  /** The gateway's port on 127.0.0.1. */
  readonly port: number;
  /** The attack ends by itself this long after its `go`, and the process exits. */
  readonly durationMs: number;
  readonly reopen: Reopen;
}

/** Many connections at once, from several source addresses. */
interface ManyConnections extends PlanBase {
  readonly connections: number;
  /** Loopback source addresses, each taking an equal block of the connections, the first first. */
  readonly addresses: readonly string[];
  /** The first connections are spread over this long (ms), not thrown at the listen backlog at once. */
  readonly rampMs: number;
}

/** Open TCP connections, send an HTTP request that never ends, trickle a header now and then. */
export interface SlowlorisPlan extends ManyConnections {
  readonly kind: 'slowloris';
}

/** Complete the WebSocket upgrade with a valid device token, then never send `hello`. */
export interface SilentUpgradePlan extends ManyConnections {
  readonly kind: 'silent-upgrade';
  /** The fleet secret: a device owner who extracted it mints valid tokens for any id. */
  readonly secret: string;
}

/**
 * One authenticated device that sends data frames as fast as the gateway acknowledges them (within its
 * window of unacknowledged messages), reconnecting whenever it is closed.
 */
export interface FlooderPlan extends PlanBase {
  readonly kind: 'flooder';
  readonly address: string;
  readonly secret: string;
  readonly deviceId: string;
}

export type AttackPlan = SlowlorisPlan | SilentUpgradePlan | FlooderPlan;

export interface AttackStats {
  readonly kind: AttackPlan['kind'];
  /** Connections (or WebSocket attempts) opened. */
  attempts: number;
  /** Open right now: TCP connections for slowloris, upgraded sockets for silent upgrades. */
  holding: number;
  /** Most held at once. */
  peakHolding: number;
  /** Upgrades answered 101. */
  upgraded: number;
  /** Upgrades refused before the WebSocket, by the gateway's error code (or `http_<status>`). */
  refused: Record<string, number>;
  /** Closes the gateway sent on upgraded sockets, by WebSocket close code. */
  closeCodes: Record<string, number>;
  /** Connections the gateway ended without a WebSocket close (slowloris: its header timeout). */
  cut: number;
  /** How long the connections the gateway ended had lived, in ms (slowloris: time to the cut). */
  livedMs: number[];
  /** Flooder: welcomes received, frames written. */
  welcomes: number;
  framesSent: number;
  /** Socket errors other than the gateway's refusals (ECONNRESET, EADDRNOTAVAIL, …), by code. */
  errors: Record<string, number>;
}

/** From the parent: start the attack (the process is forked and loaded before). */
export type AttackerCommand = { type: 'go' };

export type AttackerMessage =
  | { type: 'ready'; pid: number }
  | { type: 'report'; final: boolean; stats: AttackStats };

export function emptyStats(kind: AttackPlan['kind']): AttackStats {
  return {
    kind,
    attempts: 0,
    holding: 0,
    peakHolding: 0,
    upgraded: 0,
    refused: {},
    closeCodes: {},
    cut: 0,
    livedMs: [],
    welcomes: 0,
    framesSent: 0,
    errors: {},
  };
}

export function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}
