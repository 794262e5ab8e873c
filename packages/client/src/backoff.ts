/**
 * Reconnect delays: capped exponential backoff with full jitter (the AWS architecture blog's "full
 * jitter"), so a fleet that lost its instance at the same moment does not come back at the same moment.
 * Pure: the caller supplies the random source, which lets tests pin the schedule down.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay. Default 100 ms. */
  initialMs?: number;
  /** Largest ceiling any retry may reach. Default 10 000 ms. */
  maxMs?: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
}

export type BackoffPolicy = Readonly<Required<BackoffOptions>>;

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 10_000, factor: 2 };

/**
 * Delay before reconnect attempt `attempt` (1 for the first retry): a uniformly random whole number of
 * milliseconds in [0, min(maxMs, initialMs × factor^(attempt−1))). `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
