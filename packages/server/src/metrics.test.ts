import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  getJson,
  parsePrometheus,
  RawDevice,
  startGateway,
  type TestGateway,
  waitFor,
} from './test-support/harness.js';

/** Every `jq` path the runbook reads from GET /api/v1/esp32/metrics. */
const RUNBOOK_JQ_PATHS = [
  ['ws_metrics', 'ws_active'],
  ['ws_metrics', 'dropped_messages'],
  ['ws_metrics', 'ws_reconnects'],
  ['ws_metrics', 'ws_resumes'],
  ['ws_metrics', 'resume_failures'],
  ['ws_metrics', 'rtt_p95_ms'],
  ['ws_metrics', 'ws_connections_total'],
  ['ws_metrics', 'ws_upgrades_blocked_during_drain'],
];

/** Metric names the runbook's PromQL and alerts use. */
const RUNBOOK_PROMQL_NAMES = [
  'ws_connections_total',
  'ws_resumes',
  'resume_failures',
  'dropped_messages',
  'ws_rtt_seconds_bucket',
  'ws_active',
  'ws_upgrades_blocked_during_drain',
  'rtt_p95_ms',
];

describe('metrics', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ heartbeatMs: 50, heartbeatTimeoutMs: 1000 });
  });
  after(() => g.close());

  it('serves every runbook jq path as a number, and resume_store_metrics', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-metrics');
    await waitFor(
      async () =>
        (await getJson<{ ws_metrics: { rtt_samples: number } }>(`${g.info.url}/api/v1/esp32/metrics`)).body
          .ws_metrics.rtt_samples > 2,
      'RTT samples',
    );
    const { status, body } = await getJson<Record<string, Record<string, unknown>>>(
      `${g.info.url}/api/v1/esp32/metrics`,
    );
    assert.equal(status, 200);
    for (const [a, b] of RUNBOOK_JQ_PATHS) assert.equal(typeof body[a!]![b!], 'number', `${a}.${b}`);
    assert.equal(body.ws_metrics!.ws_active, 1);
    assert.ok((body.ws_metrics!.rtt_p95_ms as number) > 0, 'RTT is measured from pings');
    const store = body.resume_store_metrics!;
    assert.equal(store.kind, 'memory');
    assert.equal(store.status, 'ready');
    assert.equal(store.sessions, 1);
    dev.close();
  });

  it('serves the runbook PromQL names in Prometheus text format', async () => {
    const res = await fetch(`${g.info.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parsePrometheus(text);
    const names = new Set([...samples.keys()].map((k) => k.split('{')[0]));
    for (const n of RUNBOOK_PROMQL_NAMES) assert.ok(names.has(n), `${n} is exposed`);
    assert.match(text, /# TYPE ws_connections_total counter/);
    assert.match(text, /# TYPE ws_rtt_seconds histogram/);
    assert.match(text, /# TYPE ws_active gauge/);
    assert.ok((samples.get('ws_rtt_seconds_count') ?? 0) > 0);
    assert.equal(samples.get('ws_rtt_seconds_bucket{le="+Inf"}'), samples.get('ws_rtt_seconds_count'));
    for (const reason of [
      'expired',
      'unknown_session',
      'epoch_mismatch',
      'store_unavailable',
      'unauthorized',
    ]) {
      assert.equal(
        samples.get(`resume_failures{reason="${reason}"}`),
        0,
        `resume_failures{reason="${reason}"} starts at 0`,
      );
    }
    assert.equal(samples.get('dropped_messages'), 0);
  });

  it('never puts a device id in a metric label', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('secret-device-name');
    dev.send('garbage');
    await dev.next('error');
    const text = await (await fetch(`${g.info.url}/metrics`)).text();
    assert.ok(!text.includes('secret-device-name'));
    dev.close();
  });

  it('reports health with the instance and store', async () => {
    const { status, body } = await getJson(`${g.info.url}/health`);
    assert.equal(status, 200);
    assert.equal(body.status, 'ok');
    assert.equal(body.instance, 'test-a');
    assert.deepEqual(body.store, { kind: 'memory', status: 'ready', shared: false });
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON codes', async () => {
    const missing = await fetch(`${g.info.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
    const wrong = await fetch(`${g.info.url}/health`, { method: 'POST' });
    assert.equal(wrong.status, 405);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
  });
});
