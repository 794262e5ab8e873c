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
import type { BenchReport } from '../bench/report.js';
import type { ScenarioResult } from '../bench/scenario.js';
import { SUITE_NAMES } from '../bench/suite.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** A bound, not an expectation: the quick run takes about a minute. */
const RUN_TIMEOUT_MS = 240_000;

function runQuickBench(out: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'bench/run.ts', '--quick', '--json', '--out', out],
      { cwd: root, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

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

  it('throughput: one scenario per server, every echo back exactly once', () => {
    const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchReport;
    const { scenarios } = report.suites.throughput!.data as { scenarios: ScenarioResult[] };
    assert.deepEqual(
      scenarios.map((s) => s.server),
      ['raw', 'memory', 'redis'],
    );
    for (const s of scenarios) {
      const name = `${s.label} with ${s.connections} connections`;
      assert.ok(s.messagesPerSec > 0, `${name}: no echoes measured`);
      assert.equal(s.missing, 0, `${name}: ${s.missing} echoes missing`);
      assert.equal(s.duplicates, 0, `${name}: ${s.duplicates} echoes duplicated`);
      assert.equal(s.received, s.sent, `${name}: sent ${s.sent}, echoed ${s.received}`);
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
});
