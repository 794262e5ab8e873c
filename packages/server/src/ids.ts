/**
 * Identifiers and secrets: session ids, epochs, resume tokens. Tokens are 128 random bits, stored only
 * as a SHA-256 hash and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export function newSessionId(): string {
  return `s_${randomId(12)}`;
}

/** An epoch names one incarnation of a session's state; it embeds the store generation it was minted under. */
export function newEpoch(storeGeneration: string): string {
  return `${storeGeneration}.${randomId(6)}`;
}

export function generationOfEpoch(epoch: string): string {
  const dot = epoch.lastIndexOf('.');
  return dot < 0 ? '' : epoch.slice(0, dot);
}

export function newResumeToken(): string {
  return randomId(16);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time check of a presented token against a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const presented = Buffer.from(hashToken(token), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/**
 * Which of a session's accepted resume tokens `token` is. `accepted` holds the hash of the current
 * token, then (separated by a space) the hash of the previous one while the device has not yet shown
 * it holds the current one: a welcome lost to a cut mid-handshake must not cost the session.
 */
export function matchToken(token: string, accepted: string): 'current' | 'previous' | undefined {
  const [current, previous] = accepted.split(' ');
  if (current && tokenMatches(token, current)) return 'current';
  if (previous && tokenMatches(token, previous)) return 'previous';
  return undefined;
}

/** Constant-time equality of two secrets of possibly different lengths. */
export function secretEquals(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
