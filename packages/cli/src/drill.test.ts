import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditDeviceToServer, auditServerToDevice, noDeliveries } from './drill/audit.js';
import { isBinaryTurn, numberedMessage, numberOf } from './drill/numbering.js';
import { renderHtmlReport } from './drill/report-html.js';
import { renderScenario } from './drill/report-text.js';
import {
  type Check,
  disagreements,
  type Figures,
  type GatewayFigures,
  judge,
  type ScenarioResult,
} from './drill/result.js';
import type { InstanceReading } from './drill/sampler.js';
import { runCli } from './test-support/run-cli.js';

const arrival = (deviceId: string, session: string, seq: number, n: number) => ({
  id: `${session}/${seq}`,
  deviceId,
  data: numberedMessage(deviceId, n, n % 2 === 0),
});

function reading(overrides: Partial<InstanceReading> = {}): InstanceReading {
  return {
    ws_active: 10,
    ws_reconnects: 10,
    ws_resumes: 10,
    resume_failures: 0,
    dropped_messages: 0,
    rtt_p95_ms: 4,
    rtt_samples: 20,
    messages_device_to_server: 100,
    messages_server_to_device: 100,
    eventloop_lag_p99_ms: 12,
    ...overrides,
  };
}

/** A clean run of 10 devices on app: 100 messages each way, 10 resumes of 50 ms. */
function figures(overrides: Partial<Figures> = {}): Figures {
  return {
    deviceToApp: { ...noDeliveries(), sent: 100, received: 100 },
    appToDevice: {
      ...noDeliveries(),
      sent: 100,
      received: 100,
      unknownOutcome: 0,
      unknownDelivered: 0,
      refused: {},
    },
    appArrivals: 100,
    resumed: 10,
    resumeRefused: 0,
    reconnections: Array(10).fill(50),
    rttMs: Array(100).fill(5),
    drain: null,
    placement: { app: 10 },
    instanceKilled: false,
    settled: true,
    loadGeneratorLagP99Ms: 20,
    connectMs: 900,
    ...overrides,
  };
}

const gateway = (app: Partial<InstanceReading> = {}, readBeforeStop: string[] = []): GatewayFigures => ({
  instances: { app: reading(app) },
  readBeforeStop,
  worstLagMs: { app: 12 },
});

const check = (checks: readonly Check[], name: string) => {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `a check named ${name}`);
  return c;
};

describe('drill messages are numbered at their source', () => {
  it('a text or binary message gives back its number, a damaged chunk or a stranger gives NaN', () => {
    assert.equal(numberOf(numberedMessage('bear-1', 7, false)), 7);
    const chunk = numberedMessage('bear-1', 123_456, true) as Uint8Array;
    assert.equal(numberOf(chunk), 123_456);
    assert.equal(numberOf(new Uint8Array(Buffer.from(chunk))), 123_456, 'a copy, as over IPC');
    const damaged = chunk.slice();
    damaged[20]! ^= 1;
    assert.ok(Number.isNaN(numberOf(damaged)));
    assert.ok(Number.isNaN(numberOf({ text: 'hello' })));
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => isBinaryTurn(n, 2)),
      [false, true, false, true],
    );
    assert.equal(isBinaryTurn(2, 0), false);
  });
});

describe('the audit counts what arrived against what was sent', () => {
  it('device → application: missing, duplicated under another id, out of order, and redelivered under the same id apart', () => {
    const seen = [
      arrival('bear-1', 's1', 1, 1),
      arrival('bear-1', 's1', 3, 3), // 3 before 2: out of order
      arrival('bear-1', 's1', 2, 2),
      arrival('bear-1', 's1', 2, 2), // the same id again: a redelivery, not a duplicate
      arrival('bear-1', 's2', 1, 3), // 3 again under another id: a duplicate
      arrival('bear-2', 's9', 1, 1), // another device's
    ];
    const a = auditDeviceToServer('bear-1', [1, 2, 3, 4], seen);
    assert.deepEqual(
      { sent: a.sent, received: a.received, missing: a.missing, duplicated: a.duplicated },
      { sent: 4, received: 3, missing: 1, duplicated: 1 },
    );
    assert.equal(a.outOfOrder, 1);
    assert.equal(a.redelivered, 1);
    assert.equal(a.unexpected, 0);
    assert.deepEqual(a.order, [1, 3, 2, 3]);
  });

  it('a redelivery carrying another message than its id did is counted as unexpected', () => {
    const a = auditDeviceToServer(
      'bear-1',
      [1, 2],
      [arrival('bear-1', 's', 1, 1), arrival('bear-1', 's', 1, 2)],
    );
    assert.equal(a.unexpected, 1);
    assert.equal(a.missing, 1);
  });

  it('application → device: an unknown-outcome send may arrive once; twice is a duplicate', () => {
    const a = auditServerToDevice([1, 2, 4, 4, 3, 9], [1, 2, 3, 5], [4]);
    assert.equal(a.sent, 4);
    assert.equal(a.missing, 1, '5 never arrived');
    assert.equal(a.duplicated, 1, '4 arrived twice');
    assert.equal(a.outOfOrder, 1, '3 after 4');
    assert.equal(a.unexpected, 1, '9 was never sent');
    assert.equal(a.received, 3, '1, 2 and 3 of the accepted ones arrived');
    assert.equal(a.unknownDelivered, 1, '4, of unknown outcome, arrived too');
    assert.deepEqual(a.core, [1, 2, 3, 9]);
    const clean = auditServerToDevice([1, 2, 3], [1, 2, 3], []);
    assert.deepEqual([clean.missing, clean.duplicated, clean.outOfOrder, clean.unexpected], [0, 0, 0, 0]);
  });
});

describe('the verdict against the runbook targets', () => {
  it('a clean run meets every target, and the drill and the gateway agree', () => {
    const checks = judge(figures(), gateway(), []);
    assert.deepEqual(
      checks.filter((c) => c.ok === false),
      [],
    );
    assert.equal(check(checks, 'resume success rate').drill, '100 % (10 of 10)');
    assert.equal(check(checks, 'reconnection time p50 / p95 / max').drill, '0.05 s / 0.05 s / 0.05 s (10)');
    assert.deepEqual(disagreements(figures(), gateway()), []);
  });

  it('each missed target is MISSED: a loss, a slow reconnection, a slow round trip, failed resumes, a long drain', () => {
    const f = figures({
      deviceToApp: { ...noDeliveries(), sent: 100, received: 99, missing: 1 },
      resumed: 9,
      resumeRefused: 1,
      reconnections: [100, 3500],
      rttMs: Array(100).fill(151),
      drain: { instance: 'app', ms: 61_000, graceS: 60, sessionsAtStart: 10, sessionsMoved: 10 },
    });
    const checks = judge(f, gateway(), [
      { name: 'nginx -t', drill: 'failed', target: 'successful', ok: false },
    ]);
    const missed = checks.filter((c) => c.ok === false).map((c) => c.name);
    assert.deepEqual(missed, [
      'device → app: missing',
      'dropped messages',
      'resume success rate',
      'reconnection time p50 / p95 / max',
      'RTT p95',
      'drain time (app)',
      'nginx -t',
    ]);
  });

  it("the gateway's RTT p95 counts too, and a redelivery is allowed only after an instance was killed", () => {
    assert.equal(check(judge(figures(), gateway({ rtt_p95_ms: 200 }), []), 'RTT p95').ok, false);
    const redelivered = { ...noDeliveries(), sent: 100, received: 100, redelivered: 2 };
    const name = 'device → app: redelivered (same id)';
    assert.equal(check(judge(figures({ deviceToApp: redelivered }), gateway(), []), name).ok, false);
    assert.equal(
      check(judge(figures({ deviceToApp: redelivered, instanceKilled: true }), gateway(), []), name).ok,
      null,
    );
  });

  it('says where the two accounts disagree; a stopped instance’s counters are only a lower bound', () => {
    const lost = figures({ appToDevice: { ...figures().appToDevice, received: 98, missing: 2 } });
    assert.deepEqual(disagreements(lost, gateway()), [
      'the drill found 2 message(s) missing, the gateway counts dropped_messages 0',
    ]);
    assert.deepEqual(disagreements(figures(), gateway({ ws_resumes: 9, ws_active: 9 })), [
      'resumes: the drill counted 10, the gateway 9',
      "app: 10 device(s) connected by the devices' account, ws_active 9",
    ]);
    assert.deepEqual(disagreements(figures(), gateway({ ws_resumes: 9, ws_active: 3 }, ['app'])), []);
    assert.deepEqual(disagreements(figures(), gateway({ ws_resumes: 11 }, ['app'])), [
      'resumes: the drill counted 10, the gateway 11 (at least)',
    ]);
  });
});

function result(overrides: Partial<ScenarioResult> = {}): ScenarioResult {
  const f = figures();
  const g = gateway();
  return {
    scenario: 'rolling-deploy',
    title: 'Rolling deployment A → B (runbook §1)',
    ok: true,
    error: null,
    devices: 10,
    durationS: 15,
    ratePerS: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    loadAverage: [0.5, 1.25],
    checks: judge(f, g, []),
    disagreements: [],
    figures: f,
    gateway: g,
    marks: [{ t: 3.2, label: 'drain start app' }],
    timeline: [0, 1, 2, 3, 4].map((t) => ({
      t,
      phase: 'warm-up',
      connected: { app: 10 - t, app_replica: t },
      wsActive: { app: 10 - t, app_replica: t },
      deviceToAppPerS: 10,
      appToDevicePerS: 10,
      reconnects: 1,
      rttP95Ms: 5,
    })),
    ...overrides,
  };
}

describe('the reports', () => {
  it('the table shows every check with its result, and says FAILED with what was missed', () => {
    const text = renderScenario(result());
    assert.match(text, /^Rolling deployment A → B \(runbook §1\): 10 devices, 15 s/);
    assert.match(text, /check\s+drill\s+gateway\s+target\s+result/);
    assert.match(text, /dropped messages\s+0 missing\s+dropped_messages 0\s+= 0\s+OK/);
    assert.match(text, /rolling-deploy: zero drops, every target met$/);
    const failed = renderScenario(
      result({ ok: false, error: 'app_replica did not start', disagreements: ['x'] }),
    );
    assert.match(failed, /did not complete: app_replica did not start/);
    assert.match(failed, /the drill and the gateway disagree:\n {2}- x/);
    assert.match(failed, /rolling-deploy: FAILED \(did not complete\)$/);
  });

  it('the HTML report is one self-contained file: no request leaves it, and no data can close its script', () => {
    const hostile = result({
      title: 'Drill </script><script>alert(1)</script>',
      marks: [{ t: 1, label: '<b>x</b>' }],
    });
    const html = renderHtmlReport([hostile]);
    assert.doesNotMatch(
      html,
      /<(link|img|iframe)\b|\bsrc=|@import|url\(/i,
      'nothing is loaded from anywhere',
    );
    const urls = html.match(/https?:\/\/[^\s"'<)]+/g) ?? [];
    assert.deepEqual(
      [...new Set(urls)],
      ['http://www.w3.org/2000/svg'],
      'only the SVG namespace, never fetched',
    );
    assert.equal(html.match(/<\/script>/g)?.length, 2, 'the embedded data closes no script');
    assert.match(html, /Drill &lt;\/script&gt;/);
    const data = /<script type="application\/json" id="drill-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
    assert.equal(JSON.parse(data!).scenarios[0].title, hostile.title, 'the figures travel intact');
    assert.equal(html.match(/<figure data-chart=/g)?.length, 4);
  });
});

describe('zerodrop drill (command line)', () => {
  it('lists the scenarios in its help, and refuses an unknown scenario or option values out of range (exit 2)', async () => {
    const [help, unknown, none, devices, duration] = await Promise.all([
      runCli(['drill', '--help']),
      runCli(['drill', 'meteor-strike']),
      runCli(['drill']),
      runCli(['drill', 'all', '--devices', '0']),
      runCli(['drill', 'all', '--duration', 'soon']),
    ]);
    assert.equal(help.code, 0);
    for (const name of [
      'rolling-deploy',
      'nginx-reload',
      'instance-crash',
      'redis-restart',
      'scale-down',
      'all',
    ])
      assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown scenario "meteor-strike" \(rolling-deploy, .*, all\)/);
    assert.equal(none.code, 2);
    assert.equal(devices.code, 2);
    assert.match(devices.stderr, /--devices expects a whole number of at least 1/);
    assert.equal(duration.code, 2);
    assert.match(duration.stderr, /--duration expects a number of seconds of at least 5/);
  });
});
