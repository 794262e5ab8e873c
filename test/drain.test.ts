/**
 * Runbook §1 (Rolling Deployment A→B) and §5 (Scale Down 2→1), and what `docker stop` / Kubernetes
 * do (SIGTERM): devices stream both ways through a readiness-aware load balancer while an instance is
 * drained through the admin API; every device ends on the other instance and no message is missing
 * or duplicated on either side.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { getJson, waitFor } from '../packages/server/src/test-support/harness.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import {
  type Balancer,
  startBalancer,
  type Upstream,
} from '../packages/server/src/test-support/tcp-proxy.js';
import { type SimDevice, sleep, startFleet, startTraffic, verifyDelivery } from './support.js';

const ADMIN_TOKEN = 'drain-test-admin-token';

interface DrainStatus {
  state: string;
  started_at: string;
  completed_at: string | null;
  deadline: string;
  sessions_at_start: number;
  sessions_remaining: number;
  sessions_moved: number;
  upgrades_blocked: number;
  reconnect_hints_sent: number;
}

async function adminCall(g: GatewayProcess, method: string, action: string, body?: unknown) {
  const res = await fetch(`${g.url}/admin/drain/${action}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.ok(res.status < 300, `${action}: HTTP ${res.status}`);
  return (await res.json()) as DrainStatus;
}

async function wsMetrics(g: GatewayProcess) {
  return (await getJson<{ ws_metrics: Record<string, number> }>(`${g.url}/api/v1/esp32/metrics`)).body
    .ws_metrics;
}

const upstream = (g: GatewayProcess): Upstream => ({
  name: g.instance,
  port: g.port,
  readyUrl: `${g.url}/health/ready`,
});

describe('drain', () => {
  let cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  async function cluster(names: string[], extraEnv: Record<string, string> = {}) {
    const redis = await RedisProcess.start();
    cleanup.push(() => redis.destroy());
    const env = {
      REDIS_URL: redis.url,
      ZERODROP_ADMIN_TOKEN: ADMIN_TOKEN,
      ZERODROP_DRAIN_SPREAD: '3s',
      ZERODROP_HEARTBEAT: '2s',
      ...extraEnv,
    };
    const start = async (name: string) => {
      const g = await GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: name });
      cleanup.push(() => g.stop('SIGKILL'));
      return g;
    };
    return { start, instances: await Promise.all(names.map(start)) };
  }

  function fleetVia(balancer: Balancer, count: number, prefix: string): SimDevice[] {
    const fleet = startFleet(`ws://127.0.0.1:${balancer.port}/ws`, count, prefix);
    cleanup.push(() => Promise.all(fleet.map((d) => d.client.close())));
    return fleet;
  }

  it('rolling deploy: 200 devices move from A to B with zero drops, within the window', async (t) => {
    const { start, instances } = await cluster(['app']);
    const a = instances[0]!;
    // Health checks every 500 ms: devices that move before the balancer notices reach A and are refused.
    const balancer = await startBalancer([upstream(a)], 500);
    cleanup.push(() => balancer.close());
    const fleet = fleetVia(balancer, 200, 'bear-roll');
    await waitFor(() => fleet.every((d) => d.client.status === 'open'), '200 devices on A', 30_000);
    let via = a;
    const traffic = startTraffic(fleet, () => via, 400);
    cleanup.push(() => traffic.stop());
    await sleep(1000);

    const b = await start('app_replica'); // runbook step 1: deploy B, wait for its health check
    assert.equal((await getJson(`${b.url}/health`)).status, 200);
    balancer.add(upstream(b));
    balancer.markDraining('app');
    const started = await adminCall(a, 'POST', 'start', {
      reason: 'rolling_deployment',
      max_session_age_seconds: 20,
    });
    assert.equal(started.state, 'draining');
    assert.equal(started.sessions_at_start, 200);

    const drained = await waitFor(
      async () => {
        const s = await adminCall(a, 'GET', 'status');
        return s.state === 'drained' ? s : undefined;
      },
      'A to be drained',
      25_000,
    );
    via = b;
    const tookMs = Date.parse(drained.completed_at!) - Date.parse(drained.started_at);
    assert.ok(tookMs <= 20_000, `the drain finished within its window (${tookMs} ms)`);
    assert.equal(drained.sessions_remaining, 0);
    assert.equal(drained.sessions_moved, 200);
    assert.equal(
      (await adminCall(a, 'POST', 'complete')).state,
      'drained',
      'runbook step 4 on a drained instance',
    );

    await sleep(1000);
    await traffic.stop();
    const totals = await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], {
      allowRedelivery: false,
    });
    const [ma, mb] = [await wsMetrics(a), await wsMetrics(b)];
    assert.equal(ma.ws_active, 0);
    assert.equal(mb.ws_active, 200, 'every device ended on B');
    assert.equal((ma.dropped_messages ?? 0) + (mb.dropped_messages ?? 0), 0, 'runbook step 5: zero drops');
    assert.equal(mb.resume_failures, 0);
    assert.equal(mb.ws_resumes, 200);
    assert.equal(ma.ws_upgrades_blocked_during_drain, drained.upgrades_blocked);
    assert.equal(
      ma.ws_upgrades_blocked_during_drain,
      balancer.routedWhileDraining('app'),
      'every upgrade that reached A during the drain was refused and counted',
    );
    t.diagnostic(
      `drain ${tookMs} ms, ${totals.deviceToServer} device→server and ${totals.serverToDevice} server→device messages, ` +
        `${ma.ws_upgrades_blocked_during_drain} upgrades refused by A while draining`,
    );
  });

  it('scale down 2→1: devices spread over both instances, B drained, all on A, zero drops', async () => {
    const { instances } = await cluster(['app', 'app_replica']);
    const [a, b] = instances as [GatewayProcess, GatewayProcess];
    const balancer = await startBalancer([upstream(a), upstream(b)]);
    cleanup.push(() => balancer.close());
    const fleet = fleetVia(balancer, 100, 'bear-scale');
    await waitFor(() => fleet.every((d) => d.client.status === 'open'), '100 devices', 30_000);
    assert.ok(
      balancer.routed.get('app')! > 20 && balancer.routed.get('app_replica')! > 20,
      'spread over both',
    );
    let turn = 0;
    const traffic = startTraffic(fleet, () => (turn++ % 2 ? a : b), 300);
    cleanup.push(() => traffic.stop());
    await sleep(800);
    balancer.markDraining('app_replica');
    await adminCall(b, 'POST', 'start', { reason: 'scale_down', max_session_age_seconds: 20 });
    await waitFor(async () => (await adminCall(b, 'GET', 'status')).state === 'drained', 'B drained', 25_000);
    await sleep(800);
    await traffic.stop();
    await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], { allowRedelivery: false });
    assert.equal((await wsMetrics(a)).ws_active, 100);
    assert.equal((await wsMetrics(b)).ws_active, 0);
    assert.equal(await b.stop('SIGTERM'), 0, 'runbook step 4: the removed instance stops cleanly');
  });

  it('SIGTERM under traffic drains, exits 0, and loses nothing', async () => {
    const { instances } = await cluster(['app', 'app_replica'], { ZERODROP_DRAIN_GRACE: '15s' });
    const [a, b] = instances as [GatewayProcess, GatewayProcess];
    const balancer = await startBalancer([upstream(a), upstream(b)]);
    cleanup.push(() => balancer.close());
    const fleet = fleetVia(balancer, 100, 'bear-term');
    await waitFor(() => fleet.every((d) => d.client.status === 'open'), '100 devices', 30_000);
    let via = a;
    const traffic = startTraffic(fleet, () => via, 300);
    cleanup.push(() => traffic.stop());
    await sleep(800);
    balancer.markDraining('app');
    via = b;
    const started = Date.now();
    const code = await a.stop('SIGTERM');
    assert.equal(code, 0, 'the instance exits 0 once drained');
    assert.ok(Date.now() - started < 15_000, 'within the grace period');
    await sleep(800);
    await traffic.stop();
    await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], { allowRedelivery: false });
    assert.equal((await wsMetrics(b)).ws_active, 100);
  });
});
