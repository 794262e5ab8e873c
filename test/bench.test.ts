/**
 * Keeps `npm run bench` working: its quick mode runs once, end to end, with real child processes (raw
 * echo server, gateway with the memory store, gateway with a private Redis, load workers), exits 0,
 * and reports every scenario with traffic and with every echo back exactly once. No timing is
 * asserted: the figures depend on the machine; only that the benchmark measures and loses nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LatencyResult } from '../bench/latency-scenario.js';
import type { BenchReport } from '../bench/report.js';
import type { ResumeResult } from '../bench/resume-scenario.js';
import type { ScenarioResult } from '../bench/scenario.js';
import { SUITE_NAMES } from '../bench/suite.js';
import type { CapacityData } from '../bench/suites/capacity.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** A bound, not an expectation: the quick run takes about a minute. */
const RUN_TIMEOUT_MS = 240_000;

/** Run a bench script through tsx from the repository root; a non-zero exit is returned, not thrown. */
function runBenchScript(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', ...args],
      { cwd: root, timeout: timeoutMs, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const runQuickBench = (out: string) =>
  runBenchScript(['bench/run.ts', '--quick', '--json', '--out', out], RUN_TIMEOUT_MS);
const runWriteCost = (args: string[]) => runBenchScript(['bench/redis-write-cost.ts', ...args], 60_000);

describe('npm run bench -- --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerodrop-bench-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every suite, reports each target row, and gets every message through exactly once', async () => {
    const { code, stdout, stderr } = await runQuickBench(join(dir, 'results.json'));
    assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);
    const report = JSON.parse(stdout) as BenchReport;
    assert.equal(report.ok, true);
    assert.deepEqual(Object.keys(report.suites), [...SUITE_NAMES], 'one result per suite, in order');
    for (const [name, suite] of Object.entries(report.suites)) {
      assert.equal(suite.ok, true, `${name}: something was lost or duplicated`);
      assert.ok(suite.targets.length > 0, `${name}: no target rows`);
      for (const t of suite.targets) {
        assert.ok(Number.isFinite(t.measured), `${name}: ${t.figure} measured ${t.measured}`);
        if (t.baseline) assert.ok(t.baseline.value > 0, `${name}: ${t.figure} has an empty baseline`);
      }
    }
    assert.deepEqual(
      report.targets,
      Object.values(report.suites).flatMap((s) => s.targets),
      'the targets table is every suite’s rows',
    );
  });

  it('throughput: one scenario per server and reply mode, every echo back exactly once', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const { scenarios } = report.suites.throughput!.data as { scenarios: ScenarioResult[] };
    assert.deepEqual(
      scenarios.map((s) => [s.server, s.replyMode]),
      [
        ['raw', undefined],
        ['memory', 'awaited'],
        ['memory', 'queued'],
        ['redis', 'awaited'],
        ['redis', 'queued'],
      ],
    );
    for (const s of scenarios) {
      const name = `${s.label} with ${s.connections} connections`;
      assert.ok(s.messagesPerSec > 0, `${name}: no echoes measured`);
      assert.equal(s.missing, 0, `${name}: ${s.missing} echoes missing`);
      assert.equal(s.duplicates, 0, `${name}: ${s.duplicates} echoes duplicated`);
      assert.equal(s.received, s.sent, `${name}: sent ${s.sent}, echoed ${s.received}`);
    }
  });

  it('latency: the paced workload against raw ws and the gateway, every message both ways exactly once', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const { scale, scenarios } = report.suites.latency!.data as {
      scale: { devices: number };
      scenarios: LatencyResult[];
    };
    assert.deepEqual(
      scenarios.map((s) => s.server),
      ['raw', 'redis'],
    );
    for (const s of scenarios) {
      for (const [way, c] of [
        ['device→app', s.deviceToAppCount],
        ['app→device', s.appToDeviceCount],
      ] as const) {
        assert.ok(c.sent >= scale.devices, `${s.label} ${way}: every device sent (${c.sent})`);
        assert.equal(c.received, c.sent, `${s.label} ${way}: sent ${c.sent}, received ${c.received}`);
        assert.equal(c.missing + c.duplicates + c.outOfOrder + c.unexpected, 0, `${s.label} ${way}`);
      }
      assert.ok(s.deviceToApp.count > 0 && s.appToDevice.count > 0, `${s.label}: latencies measured`);
      assert.ok((s.serverRtt?.count ?? 0) > 0, `${s.label}: the server measured RTTs`);
    }
  });

  it('resume: every device came back and received its whole backlog once, the gateway resumed them all', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const { scenarios } = report.suites.resume!.data as { scenarios: ResumeResult[] };
    assert.deepEqual(
      scenarios.map((s) => s.server),
      ['raw', 'redis'],
    );
    for (const s of scenarios) {
      assert.equal(s.caughtUp, s.devices, `${s.label}: ${s.caughtUp} of ${s.devices} caught up`);
      assert.equal(s.delivery.sent, s.devices * s.backlog);
      assert.equal(s.delivery.received, s.delivery.sent, `${s.label}: backlog received`);
      assert.equal(s.delivery.duplicates + s.delivery.outOfOrder + s.delivery.unexpected, 0, s.label);
      assert.equal(s.dialToCaughtUp.count, s.devices, `${s.label}: one come-back time per device`);
    }
    const gateway = scenarios.find((s) => s.server === 'redis')!;
    assert.equal(gateway.recovered, gateway.devices, 'every session resumed, none fresh');
  });

  it('socketio: the same workloads against the gateway and Socket.IO, nothing lost on either', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const data = report.suites.socketio!.data as {
      throughput: ScenarioResult[];
      latency: LatencyResult[];
      resume: ResumeResult[];
    };
    for (const results of [data.throughput, data.latency, data.resume]) {
      assert.deepEqual(
        results.map((s) => s.server),
        ['redis', 'socketio'],
      );
    }
    for (const s of data.throughput) {
      assert.ok(s.messagesPerSec > 0, `${s.label}: no echoes measured`);
      assert.equal(s.missing + s.duplicates, 0, `${s.label}: echoes lost or duplicated`);
      assert.equal(s.received, s.sent, `${s.label}: sent ${s.sent}, echoed ${s.received}`);
    }
    for (const s of data.latency) {
      for (const c of [s.deviceToAppCount, s.appToDeviceCount]) {
        assert.ok(c.sent > 0);
        assert.equal(c.received, c.sent, `${s.label}: sent ${c.sent}, received ${c.received}`);
        assert.equal(c.duplicates, 0, s.label);
      }
    }
    for (const s of data.resume) {
      assert.equal(s.recovered, s.devices, `${s.label}: ${s.recovered} of ${s.devices} sessions recovered`);
      assert.equal(s.delivery.received, s.devices * s.backlog, `${s.label}: backlog received`);
      assert.equal(s.delivery.duplicates, 0, s.label);
    }
  });

  it('drain: every session moved to the other instance, reconnect times from the devices', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const drain = report.suites.drain!.data as {
      devices: number;
      drainMs: number;
      reconnectMs: { count: number; p50: number; max: number };
    };
    assert.ok(drain.drainMs > 0);
    assert.ok(drain.reconnectMs.count >= drain.devices, 'every device reconnected at least once');
    assert.ok(drain.reconnectMs.p50 <= drain.reconnectMs.max);
  });

  it('capacity: the gateway and raw ws each held every session asked for, and measured what they cost', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const capacity = report.suites.capacity!.data as CapacityData;
    for (const p of [capacity.raw, capacity.gateway]) {
      assert.equal(p.reached, capacity.sessions, `${p.label}: reached ${p.reached} of ${capacity.sessions}`);
      assert.equal(p.heldAfter, capacity.sessions, `${p.label}: held ${p.heldAfter} after the hold`);
      for (const [name, value] of Object.entries({
        rssPerSessionKB: p.rssPerSessionKB,
        heapPerSessionKB: p.heapPerSessionKB,
        loopDelayP99Ms: p.hold.loopDelayMs.p99,
        holdCpuPct: p.holdCpuPct,
      })) {
        assert.ok(Number.isFinite(value), `${p.label}: ${name} is ${value}`);
      }
      assert.ok(p.idle.collected && p.after.collected, `${p.label}: memory read after a full GC`);
      assert.ok(p.hold.pongs > 0, `${p.label}: heartbeats flowed during the hold`);
      assert.ok(p.messages.sent > 0, `${p.label}: the trickle sent nothing`);
      assert.equal(p.messages.echoed, p.messages.sent, `${p.label}: trickle echoed once each`);
      assert.equal(p.messages.duplicates, 0, p.label);
    }
    assert.ok(Number.isFinite(capacity.projection.rssBytes), 'the 100,000-session projection is computed');
  });
});

describe('bench/redis-write-cost.ts', () => {
  it('reports Redis CPU and wall time per write, adjacent and interleaved, on its own Redis', async () => {
    const { code, stdout, stderr } = await runWriteCost(['--sessions', '20', '--rounds', '3', '--per', '2']);
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 2, stdout);
    for (const [i, order] of ['adjacent', 'interleaved'].entries()) {
      const m = new RegExp(
        `^${order}: 120 writes \\(20 sessions × 2 per turn × 3 turns\\): redis CPU ([\\d.]+) µs/write, wall ([\\d.]+) µs/write$`,
      ).exec(lines[i]!);
      assert.ok(m, lines[i]);
      assert.ok(Number(m[2]) > 0, `${order}: wall time per write measured`);
    }
  });

  it('refuses a count out of bounds with exit code 2 and says which', async () => {
    const { code, stdout, stderr } = await runWriteCost(['--per', '0']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /--per must be an integer in 1\.\.100, not "0"/);
  });
});
