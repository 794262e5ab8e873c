/**
 * Keeps `npm run bench` working: its quick mode runs once, end to end, with real child processes (raw
 * echo server, gateway with the memory store, gateway with a private Redis, load workers), exits 0,
 * and reports every scenario with traffic and with every echo back exactly once. No timing is
 * asserted: the figures depend on the machine; only that the benchmark measures and loses nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../bench/report.js';

const root = fileURLToPath(new URL('..', import.meta.url));
/** A bound, not an expectation: the quick run takes about ten seconds. */
const RUN_TIMEOUT_MS = 90_000;

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

  it('measures every scenario and gets every echo back exactly once', async () => {
    const { code, stdout, stderr } = await runQuickBench(join(dir, 'results.json'));
    assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);
    const report = JSON.parse(stdout) as BenchReport;
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.scenarios.map((s) => s.server),
      ['raw', 'memory', 'redis'],
      'one scenario per server',
    );
    for (const s of report.scenarios) {
      const name = `${s.label} with ${s.connections} connections`;
      assert.ok(s.messagesPerSec > 0, `${name}: no echoes measured`);
      assert.ok(s.sent > 0, `${name}: nothing sent`);
      assert.equal(s.missing, 0, `${name}: ${s.missing} echoes missing`);
      assert.equal(s.duplicates, 0, `${name}: ${s.duplicates} echoes duplicated`);
      assert.equal(s.received, s.sent, `${name}: sent ${s.sent}, echoed ${s.received}`);
    }
  });
});
