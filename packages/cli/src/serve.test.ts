import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closedPort, runCli, startCli } from './test-support/run-cli.js';

describe('zerodrop serve', () => {
  it('prints where devices connect, and exits 0 on SIGTERM without waiting out an empty drain', async () => {
    const port = await closedPort();
    const cli = startCli(['serve', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn']);
    await cli.stdoutMatches(new RegExp(`devices connect to ws://127\\.0\\.0\\.1:${port}/ws`));
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
    const started = Date.now();
    cli.child.kill('SIGTERM');
    const done = await cli.done;
    assert.equal(done.code, 0);
    assert.ok(Date.now() - started < 5000, 'no device to move: the drain ends at once');
  });

  it('stops with a clear message on an unknown option or a contradictory setting', async () => {
    const unknown = await runCli(['serve', '--max-conections', '5']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown option --max-conections \[invalid_config\]/);
    const contradictory = await runCli(['serve', '--heartbeat', '30s', '--heartbeat-timeout', '10s']);
    assert.equal(contradictory.code, 1);
    assert.match(contradictory.stderr, /must be longer than the heartbeat/);
  });
});
