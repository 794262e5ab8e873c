import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawDevice, startGateway, type TestGateway } from '../../server/src/test-support/harness.js';
import { closedPort, runCli } from './test-support/run-cli.js';

describe('zerodrop metrics', () => {
  let a: TestGateway;
  let b: TestGateway;
  let dev: RawDevice;

  before(async () => {
    [a, b] = await Promise.all([
      startGateway({ instanceId: 'test-a' }),
      startGateway({ instanceId: 'test-b' }),
    ]);
    dev = await RawDevice.connect(a.info.wsUrl);
    await dev.hello('bear-metrics');
  });
  after(async () => {
    dev.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('prints ws_metrics and resume_store_metrics as a table', async () => {
    const run = await runCli(['metrics'], { env: { ZERODROP_URL: a.info.url } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^instance\s+test-a$/m);
    assert.match(run.stdout, /^ws_metrics$/m);
    assert.match(run.stdout, /^ {2}ws_active\s+1$/m);
    assert.match(run.stdout, /^ {2}dropped_messages\s+0$/m);
    assert.match(run.stdout, /^ {2}rtt_p95_ms\s+\d/m);
    assert.match(run.stdout, /^resume_store_metrics$/m);
    assert.match(run.stdout, /^ {2}kind\s+memory$/m);
    assert.match(run.stdout, /^ {2}pending_writes\s+0$/m);
    assert.match(run.stdout, /^ {2}last_error\s+-$/m);
  });

  it('--json prints the gateway’s document as received', async () => {
    const run = await runCli(['metrics', '--json', '--url', a.info.url]);
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout);
    assert.equal(doc.instance, 'test-a');
    assert.equal(doc.ws_metrics.ws_active, 1);
    assert.equal(doc.resume_store_metrics.kind, 'memory');
  });

  it('--watch 0.2 --count 2 refreshes twice and stops', async () => {
    const [table, json] = await Promise.all([
      runCli(['metrics', '--watch', '0.2', '--count', '2', '--url', a.info.url]),
      runCli(['metrics', '--watch', '0.2', '--count', '2', '--json', '--url', a.info.url]),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stdout.match(/^ {2}ws_active\s+1$/gm)?.length, 2);
    assert.match(table.stdout, /refresh 1 of 2, every 0\.2 s/);
    assert.match(table.stdout, /refresh 2 of 2, every 0\.2 s/);
    assert.equal(json.code, 0, json.stderr);
    const docs = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(docs.length, 2, 'one JSON document per refresh');
    assert.ok(docs.every((d) => d.instance === 'test-a'));
  });

  it('shows several instances side by side, and one that cannot be read fails the run', async () => {
    const both = await runCli(['metrics', '--url', a.info.url, '--url', b.info.url]);
    assert.equal(both.code, 0, both.stderr);
    assert.match(both.stdout, /^instance\s+test-a\s+test-b$/m);
    assert.match(both.stdout, /^ {2}ws_active\s+1\s+0$/m);

    const port = await closedPort();
    const oneDown = await runCli(['metrics', '--url', a.info.url, '--url', `http://127.0.0.1:${port}`]);
    assert.equal(oneDown.code, 1);
    assert.match(oneDown.stdout, /^instance\s+test-a$/m, 'the instance that answered is still shown');
    assert.match(
      oneDown.stderr,
      new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: connection refused`),
    );
  });

  it('usage errors exit 2', async () => {
    const runs = await Promise.all([
      runCli(['metrics', '--url', a.info.url, '--verbose']),
      runCli(['metrics', '--url']),
      runCli(['metrics', '--url', a.info.url, '--count', '2']),
    ]);
    for (const run of runs) assert.equal(run.code, 2, run.stderr);
    assert.match(runs[0]!.stderr, /unknown option --verbose/);
    assert.match(runs[1]!.stderr, /--url needs a value/);
    assert.match(runs[2]!.stderr, /--count only applies with --watch/);
  });
});
