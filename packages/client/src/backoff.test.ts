import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt up to maxMs, with full jitter below it', () => {
    const almostOne = () => 0.999_999;
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, DEFAULT_BACKOFF, almostOne));
    assert.deepEqual(ceilings, [99, 199, 399, 799, 1599, 3199, 6399, 9999, 9999]);
  });

  it('draws uniformly between zero and the ceiling', () => {
    const policy = { initialMs: 100, maxMs: 1000, factor: 3 };
    assert.equal(
      backoffDelay(1, policy, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(1, policy, () => 0.5),
      50,
    );
    assert.equal(
      backoffDelay(2, policy, () => 0.5),
      150,
    );
    assert.equal(
      backoffDelay(3, policy, () => 0.5),
      450,
    );
    assert.equal(
      backoffDelay(4, policy, () => 0.5),
      500,
    );
  });

  it('does not overflow for very high attempt numbers', () => {
    assert.equal(
      backoffDelay(10_000, DEFAULT_BACKOFF, () => 0.5),
      5000,
    );
  });
});
