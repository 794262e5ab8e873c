/**
 * The monitoring set, end to end: promtool accepts the rules and passes their unit tests (one per
 * alert at least); then a real Prometheus scrapes a real gateway and evaluates the rules, a device lets
 * a message expire unacknowledged, and the runbook's critical alert fires through Prometheus's HTTP
 * API. Every query of the Grafana dashboard runs on that Prometheus and must parse, read metrics the
 * gateway exposes (or the rules record), and return data.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeadLetter } from '@zerodrop/server';
import {
  RawDevice,
  startGateway,
  type TestGateway,
  waitFor,
} from '../packages/server/src/test-support/harness.js';
import { freePort, requireBinary } from '../packages/server/src/test-support/processes.js';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const RULES = join(ROOT, 'deploy/prometheus/zerodrop.rules.yml');
const RULES_TEST = join(ROOT, 'deploy/prometheus/zerodrop.rules.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/zerodrop-dashboard.json');

/** Gauges the dashboard and the upgrades-blocked alert read: the drain state, the resume store's health. */
const DRAIN_AND_STORE_GAUGES = ['zerodrop_drain_state', 'resume_store_up', 'resume_store_pending_writes'];

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(requireBinary('promtool', 'prometheus'), args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** A `prometheus` this test started: its own port and data directory, stopped by PID. */
class PrometheusProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #dir: string;
  #log = '';

  private constructor(child: ChildProcess, port: number, dir: string) {
    this.#child = child;
    this.#dir = dir;
    this.url = `http://127.0.0.1:${port}`;
    child.stderr?.on('data', (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-4000);
    });
  }

  static async start(config: object): Promise<PrometheusProcess> {
    const binary = requireBinary('prometheus', 'prometheus');
    const dir = mkdtempSync(join(tmpdir(), 'zerodrop-prometheus-'));
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(configFile, JSON.stringify(config)); // JSON is YAML
    const port = await freePort();
    const child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p = new PrometheusProcess(child, port, dir);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${p.#log}`);
        return (await fetch(`${p.url}/-/ready`).catch(() => undefined))?.ok;
      },
      'prometheus to be ready',
      15_000,
    );
    return p;
  }

  /** GET an API path; `data` of a successful answer, else throws with Prometheus's error. */
  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  query(
    expr: string,
  ): Promise<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }> {
    return this.api('query', { query: expr });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

interface RuleGroup {
  name: string;
  rules: {
    name: string;
    type: 'alerting' | 'recording';
    health: string;
    lastError?: string;
    query: string;
  }[];
}

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\w+/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'inf', 'nan']);
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = stripped[m.index! - 1] ?? ' ';
    const after = stripped.slice(m.index! + m[0].length).trimStart();
    if (/[0-9.]/.test(before) || after.startsWith('(') || keywords.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

interface Panel {
  title: string;
  type: string;
  panels?: Panel[];
  targets?: { expr?: string }[];
}

/** Every PromQL expression of the dashboard, with the title of its panel. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return all.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));
}

describe('Prometheus rules', () => {
  it('promtool accepts the rules and the example Prometheus configuration', () => {
    const rules = promtool('check', 'rules', RULES);
    assert.equal(rules.status, 0, rules.output);
    const config = promtool('check', 'config', join(ROOT, 'deploy/prometheus/prometheus.yml'));
    assert.equal(config.status, 0, config.output);
  });

  it("pass their promtool unit tests, and each of the runbook's critical alerts has one", () => {
    const r = promtool('test', 'rules', RULES_TEST);
    assert.equal(r.status, 0, r.output);
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert:\s*(\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(alerts.sort(), [
      'ZerodropMessagesDropped',
      'ZerodropResumeFailuresHigh',
      'ZerodropRttP95High',
      'ZerodropUpgradesBlockedOutsideDrain',
    ]);
    const tested = readFileSync(RULES_TEST, 'utf8');
    for (const name of alerts) {
      const fires = new RegExp(`alertname: ${name}\\s+exp_alerts:\\s+(?:&\\S+\\s+)?- exp_labels`);
      assert.match(tested, fires, `a unit test where ${name} fires`);
    }
  });
});

describe('a real Prometheus scraping a real gateway', () => {
  let g: TestGateway;
  let prometheus: PrometheusProcess;
  const letters: DeadLetter[] = [];

  before(async () => {
    g = await startGateway(
      { resumeTtlMs: 2500, heartbeatMs: 100, heartbeatTimeoutMs: 1000, expirySweepMs: 50 },
      { app: { onDeadLetter: (l) => void letters.push(l) } },
    );
    prometheus = await PrometheusProcess.start({
      global: { scrape_interval: '200ms', scrape_timeout: '150ms', evaluation_interval: '200ms' },
      rule_files: [RULES],
      scrape_configs: [{ job_name: 'zerodrop', static_configs: [{ targets: [`127.0.0.1:${g.info.port}`] }] }],
    });
    await waitFor(
      async () => (await prometheus.query('dropped_messages')).result.length === 1,
      'the first scrape of the gateway',
      10_000,
    );
  });

  /** Series names in the gateway's /metrics (a histogram's _bucket, _sum and _count included). */
  async function exposedMetrics(): Promise<Set<string>> {
    const exposition = await (await fetch(`${g.info.url}/metrics`)).text();
    const exposed = new Set<string>();
    for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exposed.add(name!);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(`${name}${s}`);
    }
    return exposed;
  }

  after(async () => {
    await prometheus?.stop();
    await g?.close();
  });

  it('a message that expires unacknowledged raises dropped_messages and fires ZerodropMessagesDropped, and only it', async () => {
    const online = await RawDevice.connect(g.info.wsUrl); // answers pings: RTT samples meanwhile
    await online.hello('bear-online');
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-drop');
    await g.gateway.send('bear-drop', { lost: 1 });
    await g.gateway.send('bear-drop', { lost: 2 });
    await waitFor(() => dev.dataFrames().length === 2, 'both messages on the device');
    dev.cut(); // never acknowledged; the session expires after its resume TTL
    await dev.closed;

    await waitFor(() => letters.length === 2, 'the session to expire', 10_000);
    const dropped = await waitFor(
      async () => {
        const [sample] = (await prometheus.query('dropped_messages')).result;
        return Number(sample?.value[1]) === 2 ? sample : undefined;
      },
      'Prometheus to read dropped_messages 2',
      10_000,
    );
    assert.equal(dropped.metric.instance, `127.0.0.1:${g.info.port}`);

    const firing = await waitFor(
      async () => {
        const { alerts } = await prometheus.api<{ alerts: Alert[] }>('alerts');
        return alerts.find((a) => a.labels.alertname === 'ZerodropMessagesDropped' && a.state === 'firing');
      },
      'ZerodropMessagesDropped to fire',
      10_000,
    );
    assert.equal(firing.labels.severity, 'critical');
    assert.equal(firing.labels.instance, `127.0.0.1:${g.info.port}`);
    const { alerts } = await prometheus.api<{ alerts: Alert[] }>('alerts');
    assert.deepEqual(
      alerts.map((a) => a.labels.alertname),
      ['ZerodropMessagesDropped'],
      'no other alert is pending or firing',
    );
    online.close();
  });

  it('evaluates every rule without an error, and every rule reads metrics the gateway exposes', async () => {
    const exposed = await exposedMetrics();
    const { groups } = await prometheus.api<{ groups: RuleGroup[] }>('rules');
    const rules = groups.flatMap((gr) => gr.rules);
    assert.equal(rules.length, 10);
    for (const r of rules) {
      assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? r.health}`);
      const unknown = metricNames(r.query).filter((n) => !exposed.has(n));
      assert.deepEqual(unknown, [], `${r.name} reads metrics the gateway exposes`);
    }
    const rtt = rules.find((r) => r.name === 'ZerodropRttP95High')!;
    const threshold = /\)\s*>\s*([\d.]+)\s*$/.exec(rtt.query)?.[1];
    const exposition = await (await fetch(`${g.info.url}/metrics`)).text();
    assert.ok(
      exposition.includes(`ws_rtt_seconds_bucket{le="${threshold}"}`),
      `the RTT alert's threshold ${threshold} s is a bucket boundary, so the p95 comparison is exact`,
    );
  });

  it('every dashboard query parses, reads metrics that exist, and returns data', async () => {
    const exposed = await exposedMetrics();
    const { groups } = await prometheus.api<{ groups: RuleGroup[] }>('rules');
    for (const r of groups.flatMap((gr) => gr.rules)) if (r.type === 'recording') exposed.add(r.name);

    const queries = dashboardQueries();
    assert.ok(queries.length >= 15, `${queries.length} queries`);
    const panels = new Set(queries.map((q) => q.panel));
    for (const topic of [
      /active connections per instance/i,
      /connection rate/i,
      /resume success rate/i,
      /drop rate/i,
      /rtt p50 \/ p95 \/ p99/i,
      /drain state/i,
      /resume store health/i,
    ])
      assert.ok(
        [...panels].some((p) => topic.test(p)),
        `a panel for ${topic}`,
      );

    for (const { panel, expr } of queries) {
      assert.ok(!expr.includes('$'), `${panel}: no template variable in "${expr}"`);
      const data = await prometheus.query(expr); // throws on a parse error
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${panel}: "${expr}" reads a metric`);
      const unknown = names.filter((n) => !exposed.has(n));
      assert.deepEqual(
        unknown,
        [],
        `${panel}: "${expr}" reads only metrics the gateway exposes or the rules record`,
      );
      assert.ok(data.result.length > 0, `${panel}: "${expr}" returns data`);
    }
  });

  it('the gateway exposes the drain-state and resume-store gauges the dashboard and alerts read', async () => {
    const exposition = await (await fetch(`${g.info.url}/metrics`)).text();
    const missing = DRAIN_AND_STORE_GAUGES.filter(
      (n) => !new RegExp(`^# TYPE ${n} gauge$`, 'm').test(exposition),
    );
    assert.deepEqual(missing, []);
  });
});
