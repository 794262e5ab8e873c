import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  getJson,
  RawDevice,
  startGateway,
  type TestGateway,
  waitFor,
} from '../../server/src/test-support/harness.js';
import { evaluate } from './commands/verify.js';
import { closedPort, runCli } from './test-support/run-cli.js';

type Metrics = { ws_metrics: Record<string, number> };

describe('zerodrop verify', () => {
  let clean: TestGateway;
  let lossy: TestGateway;

  before(async () => {
    [clean, lossy] = await Promise.all([
      // No ping within the test: an RTT sample taken on a busy test machine could miss 150 ms.
      startGateway({ instanceId: 'clean', heartbeatMs: 60_000, heartbeatTimeoutMs: 120_000 }),
      // Sessions expire 2.5 s after their device left: an unacked message is then dropped.
      startGateway({
        instanceId: 'lossy',
        resumeTtlMs: 2500,
        heartbeatMs: 100,
        heartbeatTimeoutMs: 1000,
        expirySweepMs: 50,
      }),
    ]);
  });
  after(() => Promise.all([clean.close(), lossy.close()]));

  it('passes on a gateway with no drops, and shows the resume success rate and RTT p95', async () => {
    const idle = await runCli(['verify', '--url', clean.info.url]);
    assert.equal(idle.code, 0, idle.output);
    assert.match(idle.stdout, /^clean \(http:\/\/\S+\)\s+dropped_messages\s+0\s+= 0\s+OK$/m);
    assert.match(idle.stdout, /^\s+resume_success_rate\s+n\/a \(no resumes\)\s+> 95 %\s+OK$/m);
    assert.match(idle.stdout, /^\s+rtt_p95_ms\s+n\/a \(no samples\)\s+<= 150 ms\s+OK$/m);
    assert.match(idle.stdout, /zero drops; every target met on clean/);

    // A device that drops its connection and resumes: one resume, no failure.
    const first = await RawDevice.connect(clean.info.wsUrl);
    const w = await first.hello('bear-verify');
    first.cut();
    await first.closed;
    const second = await RawDevice.connect(clean.info.wsUrl);
    const w2 = await second.hello('bear-verify', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 0,
    });
    assert.equal(w2.outcome, 'resumed');
    second.close();

    const run = await runCli(['verify', '--url', clean.info.url, '--json']);
    assert.equal(run.code, 0, run.output);
    const verdict = JSON.parse(run.stdout);
    assert.equal(verdict.ok, true);
    const rate = verdict.instances[0].checks.find((c: { name: string }) => c.name === 'resume_success_rate');
    assert.deepEqual(
      [rate.value, rate.ws_resumes, rate.resume_failures, rate.target, rate.ok],
      [100, 1, 0, '> 95 %', true],
    );
  });

  it('fails with exit 1 and says so when a message was dropped, on every instance it checks', async () => {
    const dev = await RawDevice.connect(lossy.info.wsUrl);
    await dev.hello('bear-lost');
    await lossy.gateway.send('bear-lost', { never: 'acked' });
    await dev.next('msg');
    dev.cut();
    await waitFor(
      async () =>
        (await getJson<Metrics>(`${lossy.info.url}/api/v1/esp32/metrics`)).body.ws_metrics
          .dropped_messages === 1,
      'the expired message to be counted',
      8000,
    );

    const [table, json] = await Promise.all([
      runCli(['verify', '--url', clean.info.url, '--url', lossy.info.url]),
      runCli(['verify', '--url', clean.info.url, '--url', lossy.info.url, '--json']),
    ]);
    assert.equal(table.code, 1, table.output);
    assert.match(table.stdout, /^lossy \(http:\/\/\S+\)\s+dropped_messages\s+1\s+= 0\s+MISSED$/m);
    assert.match(table.stdout, /^clean \(http:\/\/\S+\)\s+dropped_messages\s+0\s+= 0\s+OK$/m);
    assert.match(
      table.stderr,
      /zerodrop: lossy \(http:\/\/\S+\): 1 message was dropped \(dropped_messages = 1\)/,
    );
    assert.doesNotMatch(table.stdout, /zero drops; every target met/);

    assert.equal(json.code, 1);
    const verdict = JSON.parse(json.stdout);
    assert.equal(verdict.ok, false);
    assert.deepEqual(
      verdict.instances.map((i: { instance: string; ok: boolean }) => [i.instance, i.ok]),
      [
        ['clean', true],
        ['lossy', false],
      ],
    );
  });

  it('fails with exit 1 when an instance cannot be reached, and exit 2 on a usage error', async () => {
    const port = await closedPort();
    const [down, usage] = await Promise.all([
      runCli(['verify', '--url', clean.info.url, '--url', `http://127.0.0.1:${port}`]),
      runCli(['verify', '--url', clean.info.url, '--watch']),
    ]);
    assert.equal(down.code, 1);
    assert.match(down.stdout, /ERROR$/m);
    assert.match(down.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: connection refused`));
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown option --watch/);
  });
});

describe('the runbook targets verify applies', () => {
  const ws = (over: Record<string, number>) => ({
    dropped_messages: 0,
    ws_resumes: 0,
    resume_failures: 0,
    rtt_p95_ms: 0,
    rtt_samples: 0,
    ...over,
  });
  const verdict = (over: Record<string, number>) =>
    Object.fromEntries(evaluate(ws(over)).map((c) => [c.name, [c.shown, c.ok]]));

  it('a resume success rate must be above 95 %, and counts only when there were resumes', () => {
    assert.deepEqual(verdict({}).resume_success_rate, ['n/a (no resumes)', true]);
    assert.deepEqual(verdict({ ws_resumes: 96, resume_failures: 4 }).resume_success_rate, [
      '96 % (96 of 100)',
      true,
    ]);
    assert.deepEqual(verdict({ ws_resumes: 95, resume_failures: 5 }).resume_success_rate, [
      '95 % (95 of 100)',
      false,
    ]);
    assert.deepEqual(verdict({ ws_resumes: 0, resume_failures: 3 }).resume_success_rate, [
      '0 % (0 of 3)',
      false,
    ]);
  });

  it('RTT p95 must be at most 150 ms, once there are samples', () => {
    assert.deepEqual(verdict({ rtt_p95_ms: 150, rtt_samples: 10 }).rtt_p95_ms, ['150 ms (10 samples)', true]);
    assert.deepEqual(verdict({ rtt_p95_ms: 150.5, rtt_samples: 10 }).rtt_p95_ms, [
      '150.5 ms (10 samples)',
      false,
    ]);
    assert.deepEqual(verdict({ rtt_p95_ms: 900, rtt_samples: 0 }).rtt_p95_ms, ['n/a (no samples)', true]);
  });

  it('any dropped message misses the target', () => {
    assert.deepEqual(verdict({}).dropped_messages, ['0', true]);
    assert.deepEqual(verdict({ dropped_messages: 2 }).dropped_messages, ['2', false]);
  });
});
