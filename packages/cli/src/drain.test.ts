import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { getJson, RawDevice, startGateway, type TestGateway } from '../../server/src/test-support/harness.js';
import { closedPort, runCli, startCli } from './test-support/run-cli.js';

const TOKEN = 'cli-admin-token-4f9a';

describe('zerodrop drain', () => {
  let g: TestGateway;
  let url: string;
  const drain = (...args: string[]) => runCli(['drain', ...args, '--url', url, '--token', TOKEN]);

  before(async () => {
    g = await startGateway({ adminToken: TOKEN, drainSpreadMs: 100 });
    url = g.info.url;
  });
  // Every test starts from a serving instance, whatever the one before left.
  afterEach(() => void g.gateway.drain.cancel());
  after(() => g.close());

  it('start → status → complete → cancel moves a connected device off and back to serving', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-cli-drain');

    const started = await drain('start', '--reason', 'rolling_deployment', '--max-age', '60');
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /^state\s+draining$/m);
    assert.match(started.stdout, /^reason\s+rolling_deployment$/m);
    assert.match(started.stdout, /^max_session_age_seconds\s+60$/m);
    assert.match(started.stdout, /^deadline\s+\S+Z \(in (59 s|1 min)\)$/m);
    assert.match(started.stdout, /^sessions_at_start\s+1$/m);
    assert.equal((await getJson(`${url}/health/ready`)).status, 503, 'the instance is not ready any more');

    await dev.next('reconnect');
    const status = await drain('status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^state\s+draining$/m);
    assert.match(status.stdout, /^sessions_remaining\s+1$/m);
    assert.match(status.stdout, /^reconnect_hints_sent\s+1$/m);

    const completed = await drain('complete');
    assert.equal(completed.code, 0, completed.stderr);
    assert.match(completed.stdout, /^state\s+drained$/m);
    assert.match(completed.stdout, /^sessions_remaining\s+0$/m);
    assert.equal(await dev.closed, 4000, 'what was left is closed with the reconnect code');

    const cancelled = await drain('cancel');
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /^state\s+serving$/m);
    assert.equal((await getJson(`${url}/health/ready`)).status, 200, 'ready again');
  });

  it('--json prints the status as the gateway sent it; a second start is refused with the gateway’s code', async () => {
    // A device that ignores the hint keeps the drain running (an empty instance is drained at once).
    const anchor = await RawDevice.connect(g.info.wsUrl);
    await anchor.hello('bear-cli-anchor-1');
    after(() => anchor.cut());
    const started = await drain('start', '--reason', 'scale_down', '--max-age', '120', '--json');
    assert.equal(started.code, 0, started.stderr);
    const body = JSON.parse(started.stdout);
    assert.equal(body.state, 'draining');
    assert.equal(body.reason, 'scale_down');
    assert.equal(body.max_session_age_seconds, 120);
    assert.equal(body.store_shared, false);

    const [again, cancelled] = [await drain('start', '--reason', 'twice'), await drain('cancel', '--json')];
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^zerodrop: http:\/\/\S+ answered 409 drain_in_progress: the instance is already draining/m,
    );
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(JSON.parse(cancelled.stdout).state, 'serving');
  });

  it('status --watch follows a drain until it is drained', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-cli-watch');
    g.gateway.drain.start('watch', 60);
    const watch = startCli(['drain', 'status', '--watch', '--url', url, '--token', TOKEN]);
    await watch.stdoutMatches(/^state\s+draining$/m);
    // The last device leaves: the gateway finishes the drain by itself, and the watch sees it.
    dev.close();
    const run = await watch.done;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /until drained; Ctrl-C stops watching, not the drain/);
    assert.match(run.stdout, /^state\s+drained$/m);
    assert.match(run.stdout, /^sessions_moved\s+1$/m);
  });

  it('status --watch ends with exit 1 when there is no drain or it is cancelled, 130 on Ctrl-C', async () => {
    const idle = await drain('status', '--watch');
    assert.equal(idle.code, 1);
    assert.match(idle.stderr, /no drain in progress on http:\/\/127\.0\.0\.1:\d+ \(state serving\)/);

    const anchor = await RawDevice.connect(g.info.wsUrl);
    await anchor.hello('bear-cli-anchor-2');
    after(() => anchor.cut());
    g.gateway.drain.start('to-cancel', 60);
    const env = { ZERODROP_ADMIN_TOKEN: TOKEN };
    const cancelled = startCli(['drain', 'status', '--watch', '--json', '--url', url], { env });
    const interrupted = startCli(['drain', 'status', '--watch', '--url', url], { env });
    await Promise.all([cancelled.stdoutMatches(/"state":"draining"/), interrupted.stdoutMatches(/draining/)]);
    interrupted.child.kill('SIGINT');
    const stopped = await interrupted.done;
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /stopped watching; the drain goes on \(state draining\)/);
    assert.equal(g.gateway.drain.state, 'draining', 'Ctrl-C stops the watch, not the drain');

    g.gateway.drain.cancel();
    const run = await cancelled.done;
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the drain on http:\/\/\S+ was cancelled/);
    const first = JSON.parse(run.stdout.trim().split('\n')[0]!);
    assert.equal(first.state, 'draining', 'one JSON document per refresh');
  });

  it('a wrong token is refused with 401, and the token is printed nowhere', async () => {
    const wrong = 'not-the-token-8c1e';
    const runs = await Promise.all([
      runCli(['drain', 'status', '--url', url, '--token', wrong]),
      runCli(['drain', 'start', '--reason', 'x', '--url', url], { env: { ZERODROP_ADMIN_TOKEN: wrong } }),
    ]);
    for (const run of runs) {
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^zerodrop: the gateway refused the admin token \(401 unauthorized\)$/m);
      assert.ok(!run.output.includes(wrong), 'the token is not in the output');
    }
    assert.equal(g.gateway.drain.state, 'serving', 'nothing happened');
  });

  it('a missing token, an unreachable URL and a gateway without an admin token fail with exit 1', async () => {
    const port = await closedPort();
    const open = await startGateway({ instanceId: 'no-admin' });
    try {
      const [missing, down, off] = await Promise.all([
        runCli(['drain', 'status', '--url', url]),
        runCli(['drain', 'status', '--url', `http://127.0.0.1:${port}`, '--token', TOKEN]),
        runCli(['drain', 'status', '--url', open.info.url, '--token', TOKEN]),
      ]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^zerodrop: no admin token: pass --token or set ZERODROP_ADMIN_TOKEN$/m);
      assert.equal(down.code, 1);
      assert.match(
        down.stderr,
        new RegExp(`^zerodrop: cannot reach http://127\\.0\\.0\\.1:${port}: connection refused$`, 'm'),
      );
      assert.ok(!down.output.includes(TOKEN));
      assert.equal(off.code, 1);
      assert.match(off.stderr, /answered 503 admin_not_configured: the admin API is off/);
    } finally {
      await open.close();
    }
  });

  it('usage errors exit 2 and change nothing', async () => {
    const cases = [['start', '--reason', 'x', '--max-agee', '5'], ['start', '--max-age', '5'], ['pause']];
    const runs = await Promise.all(cases.map((c) => drain(...c)));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `${cases[i]!.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /zerodrop: .+\nRun "zerodrop drain( \w+)? --help"/);
    });
    assert.match(runs[0]!.stderr, /unknown option --max-agee/);
    assert.match(runs[1]!.stderr, /drain start needs --reason/);
    assert.match(runs[2]!.stderr, /unknown drain subcommand "pause"/);
    assert.equal(g.gateway.drain.state, 'serving');
  });

  it('status --watch gives up 10 s after the deadline, on the gateway’s clock', async () => {
    // A gateway whose drain never finishes: its deadline passed 11 s ago.
    const fake = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          state: 'draining',
          deadline: new Date(Date.now() - 11_000).toISOString(),
          sessions_remaining: 3,
        }),
      );
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = fake.address() as { port: number };
      const run = await runCli([
        'drain',
        'status',
        '--watch',
        '--url',
        `http://127.0.0.1:${port}`,
        '--token',
        TOKEN,
      ]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /still draining 10 s after its deadline .* with 3 sessions connected/);
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });
});
