import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './test-support/run-cli.js';

describe('zerodrop token', () => {
  it('mints the documented test vector', async () => {
    const r = await runCli([
      'token',
      'bear-0042',
      '--secret',
      'teddy-fleet-secret-2026',
      '--at',
      '1767225600',
    ]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), 'v1.bear-0042.1767225600.Yr4fJQ1IAurbfrQgVVhz0DUJE_hD1JooUKwn80h0vwo');
  });

  it('takes the secret from ZERODROP_DEVICE_SECRETS and the time from the clock', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await runCli(['token', 'bear-7'], {
      env: { ZERODROP_DEVICE_SECRETS: 'first-secret-0123456789,second' },
    });
    assert.equal(r.code, 0);
    const [, device, at] = r.stdout.trim().split('.');
    assert.equal(device, 'bear-7');
    assert.ok(Math.abs(Number(at) - before) <= 5);
  });

  it('refuses a missing secret, a bad device id or a bad time with a usage error', async () => {
    assert.equal((await runCli(['token', 'bear-7'])).code, 2);
    assert.equal((await runCli(['token', 'bad id', '--secret', 'x'])).code, 2);
    assert.equal((await runCli(['token', 'bear-7', '--secret', 'x', '--at', 'noon'])).code, 2);
  });
});
