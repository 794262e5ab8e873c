import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, isZerodropError } from '@zerodrop/protocol';
import { type ClientOptions, resolveOptions } from './options.js';

const base: ClientOptions = { url: 'ws://localhost:8000/ws', deviceId: 'bear-1' };

function rejects(options: unknown, pattern: RegExp): void {
  assert.throws(
    () => resolveOptions(options as ClientOptions),
    (err: unknown) => isZerodropError(err, Errors.INVALID_CONFIG) && pattern.test(err.message),
  );
}

describe('client options', () => {
  it('fills in the runbook defaults', () => {
    const o = resolveOptions(base);
    assert.equal(o.maxUnacked, 200);
    assert.equal(o.ackDelayMs, 20);
    assert.equal(o.ackBatchSize, 32);
    assert.equal(o.handshakeTimeoutMs, 10_000);
    assert.deepEqual(o.backoff, { initialMs: 100, maxMs: 10_000, factor: 2 });
    assert.equal(o.autoConnect, true);
  });

  it('fails fast on unknown, missing or out-of-range options', () => {
    rejects({ ...base, maxUnaked: 10 }, /unknown option maxUnaked/);
    rejects({ ...base, backoff: { initial: 5 } }, /unknown option backoff\.initial/);
    rejects({ ...base, url: 'http://localhost/ws' }, /ws:\/\/ or wss:\/\//);
    rejects({ ...base, url: 'not a url' }, /not a URL/);
    rejects({ ...base, deviceId: 'bear 1' }, /deviceId/);
    rejects({ ...base, maxUnacked: 0 }, /maxUnacked/);
    rejects({ ...base, ackDelayMs: -1 }, /ackDelayMs/);
    rejects({ ...base, backoff: { initialMs: 500, maxMs: 100 } }, /below backoff\.initialMs/);
    rejects({ ...base, headers: { authorization: 42 } }, /header authorization/);
  });
});
