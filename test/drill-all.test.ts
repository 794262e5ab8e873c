/**
 * CI's drill: `zerodrop drill all` at a small scale (50 devices, 15 s of traffic per scenario), run as
 * the command a person runs, each runbook scenario on a clean local cluster. Any missed target fails
 * it. Then the HTML report it wrote is opened in headless Chromium: the page renders, its script drew
 * every chart, and the rolling deploy shows every device moving from app to app_replica.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ScenarioResult } from '../packages/cli/src/drill/result.js';
import { requireBinary } from '../packages/cli/src/lab/binaries.js';
import { runCli } from '../packages/cli/src/test-support/run-cli.js';

const run = promisify(execFile);
const DEVICES = 50;
const SCENARIOS = ['rolling-deploy', 'nginx-reload', 'instance-crash', 'redis-restart', 'scale-down'];

describe('zerodrop drill all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerodrop-drill-test-'));
  const report = join(dir, 'drill.html');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every runbook scenario on a local cluster: zero drops, every target met', async (t) => {
    const drill = await runCli(
      ['drill', 'all', '--devices', String(DEVICES), '--duration', '15', '--json', '--report', report],
      { timeoutMs: 240_000 },
    );
    const out = JSON.parse(drill.stdout) as { ok: boolean; scenarios: ScenarioResult[] };
    const missed = out.scenarios.flatMap((s) => [
      ...s.checks
        .filter((c) => c.ok === false)
        .map((c) => `${s.scenario}: ${c.name}: ${c.drill} ${c.gateway}`),
      ...(s.error ? [`${s.scenario}: ${s.error}`] : []),
    ]);
    assert.deepEqual(missed, [], 'no target missed');
    assert.equal(drill.code, 0, drill.stderr.slice(-2000));
    assert.deepEqual(
      out.scenarios.map((s) => s.scenario),
      SCENARIOS,
    );
    for (const s of out.scenarios) {
      const { deviceToApp, appToDevice } = s.figures;
      assert.ok(
        deviceToApp.sent > DEVICES * 10 && appToDevice.sent > DEVICES * 10,
        `${s.scenario}: traffic flowed`,
      );
      assert.equal(
        deviceToApp.received,
        deviceToApp.sent,
        `${s.scenario}: every device message reached the app`,
      );
      assert.equal(
        appToDevice.missing + appToDevice.duplicated,
        0,
        `${s.scenario}: app → device exactly once`,
      );
      assert.deepEqual(s.disagreements, [], `${s.scenario}: the drill and the gateway agree`);
      assert.ok(s.timeline.length >= 15, `${s.scenario}: one timeline point a second`);
      t.diagnostic(
        `${s.scenario}: ${deviceToApp.sent} + ${appToDevice.sent} messages, ${s.figures.reconnections.length} reconnections, ${s.marks.map((m) => m.label).join(', ')}`,
      );
    }
    const rolling = out.scenarios[0]!;
    assert.deepEqual(rolling.timeline[0]!.connected, { app: DEVICES }, 'the rolling deploy starts on app');
    assert.deepEqual(rolling.timeline.at(-1)!.connected, { app_replica: DEVICES }, 'and ends on app_replica');
    assert.equal(rolling.figures.drain?.sessionsMoved, DEVICES);
    // One progress line a second on stderr, naming the phase and where the devices are.
    assert.match(
      drill.stderr,
      /^rolling-deploy +\d+ s \| drain app +\| devices app \d+, app_replica \d+ \(50\/50 connected\)/m,
    );
  });

  it('its HTML report renders in headless Chromium, every chart drawn', async () => {
    const chromium = requireBinary('chromium', 'chromium');
    const profile = mkdtempSync(join(tmpdir(), 'zerodrop-chromium-'));
    const screenshot = join(dir, 'drill.png');
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ];
    const page = `file://${report}`;
    try {
      await run(chromium, [...flags, `--screenshot=${screenshot}`, '--window-size=1280,4000', page], {
        timeout: 60_000,
      });
      const { stdout: dom } = await run(chromium, [...flags, '--dump-dom', page], {
        timeout: 60_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      // The charts are drawn by the page's script: they exist only in the rendered DOM.
      assert.doesNotMatch(readFileSync(report, 'utf8'), /<polyline/);
      const svgs = dom.match(/<svg\b/g) ?? [];
      assert.equal(svgs.length, SCENARIOS.length * 4, 'four charts per scenario');
      const lines = [...dom.matchAll(/<polyline points="([^"]*)"[^>]*data-series="([^"]*)"/g)];
      const drawn = lines.filter(([, points]) => points!.trim().split(/\s+/).length >= 10);
      assert.ok(
        drawn.length >= SCENARIOS.length * 5,
        `lines with their points (${drawn.length} of ${lines.length})`,
      );
      for (const series of [
        'app (devices)',
        'app_replica (devices)',
        'device → app',
        'app → device',
        'RTT p95',
      ])
        assert.ok(
          lines.some(([, , name]) => name === series),
          `a line for ${series}`,
        );
      // The rolling deploy's first chart: app falls to 0 while app_replica climbs to every device.
      const first = /<figure data-chart="connections">([\s\S]*?)<\/figure>/.exec(dom)![1]!;
      const series = (name: string) => {
        const points = new RegExp(`<polyline points="([^"]*)"[^>]*data-series="${name}"`).exec(first)![1]!;
        return points.split(' ').map((p) => Number(p.split(',')[1]));
      };
      const [app, replica] = [series('app \\(devices\\)'), series('app_replica \\(devices\\)')];
      assert.ok(app[0]! < app.at(-1)!, 'app starts high and ends at the axis (SVG y grows downwards)');
      assert.ok(replica[0]! > replica.at(-1)!, 'app_replica starts at the axis and ends high');
      assert.match(dom, /ZERO DROPS<\/span> Rolling deployment A → B/);

      const png = readFileSync(screenshot);
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.equal(png.readUInt32BE(16), 1280, 'screenshot width');
      assert.ok(statSync(screenshot).size > 50_000, 'a page with charts, not a blank one');
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
