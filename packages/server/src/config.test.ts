import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZerodropError } from '@zerodrop/protocol';
import { loadConfig, parseDuration } from './config.js';

const invalid = (re: RegExp) => (err: unknown) =>
  isZerodropError(err) && err.code === 'invalid_config' && re.test(err.message);

describe('configuration', () => {
  it('defaults to the runbook limits', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.port, 8000);
    assert.equal(c.maxConnections, 1000);
    assert.equal(c.maxUnacked, 200);
    assert.equal(c.resumeTtlMs, 15 * 60_000);
    assert.equal(c.wsPath, '/ws');
  });

  it('reads environment variables and lets flags win over them', () => {
    const c = loadConfig({
      env: { PORT: '9000', ZERODROP_RESUME_TTL: '10m', ZERODROP_MAX_CONNECTIONS: '50' },
      argv: ['--port', '9100', '--heartbeat=5s', '--demo'],
    });
    assert.equal(c.port, 9100);
    assert.equal(c.resumeTtlMs, 600_000);
    assert.equal(c.maxConnections, 50);
    assert.equal(c.heartbeatMs, 5000);
    assert.equal(c.demo, true);
  });

  it('parses durations with units', () => {
    assert.equal(parseDuration('250'), 250);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('soon'), undefined);
  });

  it('stops on an unknown ZERODROP_ variable or flag, naming it', () => {
    assert.throws(
      () => loadConfig({ env: { ZERODROP_MAX_CONECTIONS: '5' } }),
      invalid(/ZERODROP_MAX_CONECTIONS/),
    );
    assert.throws(() => loadConfig({ argv: ['--max-conections', '5'] }), invalid(/--max-conections/));
    assert.throws(
      () => loadConfig({ argv: ['', 'secret'] }),
      invalid(/unknown option/),
      'secrets take no flag',
    );
  });

  it('stops on values out of range or of the wrong kind', () => {
    assert.throws(() => loadConfig({ env: { PORT: '70000' } }), invalid(/PORT must be at most 65535/));
    assert.throws(() => loadConfig({ env: { ZERODROP_MAX_UNACKED: '0' } }), invalid(/at least 1/));
    assert.throws(() => loadConfig({ argv: ['--max-connections', 'many'] }), invalid(/whole number/));
    assert.throws(() => loadConfig({ argv: ['--heartbeat', 'often'] }), invalid(/duration/));
    assert.throws(() => loadConfig({ argv: ['--port'] }), invalid(/needs a value/));
    assert.throws(() => loadConfig({ argv: ['--log-level', 'loud'] }), invalid(/log-level/));
  });

  it('stops on contradictory settings', () => {
    assert.throws(
      () => loadConfig({ argv: ['--heartbeat', '30s', '--heartbeat-timeout', '10s'] }),
      invalid(/longer than the heartbeat/),
    );
    assert.throws(() => loadConfig({ argv: ['--resume-ttl', '20s'] }), invalid(/resume TTL/));
  });
});

describe('configuration docs', () => {
  it('docs/configuration.md lists every setting with its variable and flag', async () => {
    const { readFile } = await import('node:fs/promises');
    const { describeSettings } = await import('./config.js');
    const doc = await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    for (const s of describeSettings()) {
      assert.ok(doc.includes(`\`${s.env}\``), `${s.env} is documented`);
      if (s.flag.startsWith('--')) assert.ok(doc.includes(`\`${s.flag}\``), `${s.flag} is documented`);
    }
  });
});
