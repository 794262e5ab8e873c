/**
 * The runbook's operations through the real deploy/nginx configuration: a real nginx in front of two
 * real gateway processes sharing one real Redis, devices on the SDK. Devices come back to the instance
 * their affinity names across network cuts; `nginx -s reload` under traffic loses nothing; a draining
 * instance's refusals are retried on the other before a device sees them; a SIGKILLed instance's
 * devices resume on the other; scaling down 2→1 moves everyone and the sticky keys go by TTL or purge.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { PRODUCTION_NGINX, renderNginxConfig } from '../deploy/nginx/render.js';
import { labNginxOptions } from '../packages/cli/src/lab/nginx-config.js';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { getJson, waitFor } from '../packages/server/src/test-support/harness.js';
import { NginxProcess, type NginxRuntime } from '../packages/server/src/test-support/nginx-process.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import { startTcpProxy } from '../packages/server/src/test-support/tcp-proxy.js';
import { type SimDevice, sleep, startFleet, startTraffic, verifyDelivery } from './support.js';

const ADMIN_TOKEN = 'nginx-test-admin-token';
const run = promisify(execFile);

/** The production template, for these gateways on loopback, in the test's prefix. */
function renderFor(gateways: GatewayProcess[]) {
  return (rt: NginxRuntime) =>
    renderNginxConfig({
      ...labNginxOptions(
        PRODUCTION_NGINX,
        rt,
        gateways.map((g) => ({ name: g.instance, port: g.port })),
      ),
      // Production waits 30 s; 3 s lets old workers hand their devices over within the test.
      workerShutdownTimeout: '3s',
    });
}

/** What each device heard: the instance of every welcome, and every error event. */
interface Heard {
  welcomes: string[];
  errors: Error[];
}

function listen(fleet: SimDevice[]): Map<string, Heard> {
  const heard = new Map<string, Heard>();
  for (const d of fleet) {
    const h: Heard = { welcomes: [], errors: [] };
    heard.set(d.id, h);
    d.client.on('welcome', (w) => void h.welcomes.push(w.instance));
    d.client.on('error', (e) => void h.errors.push(e));
  }
  return heard;
}

const instanceOf = (d: SimDevice) => d.client.stats().lastWelcome?.instance;

async function wsMetrics(g: GatewayProcess): Promise<Record<string, number>> {
  return (await getJson<{ ws_metrics: Record<string, number> }>(`${g.url}/api/v1/esp32/metrics`)).body
    .ws_metrics;
}

/** The admin API through nginx, on the instance named by X-Zerodrop-Instance. */
async function adminVia(
  nginx: NginxProcess,
  instance: string,
  method: string,
  action: string,
  body?: unknown,
) {
  const res = await fetch(`${nginx.url}/admin/drain/${action}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-zerodrop-instance': instance },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${action} on ${instance}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as { state: string; sessions_remaining: number };
}

/** The instance an upgrade through nginx lands on, as its X-Affinity-Key response header says. */
async function upgradeLandsOn(nginx: NginxProcess, headers: Record<string, string>): Promise<string> {
  const ws = new WebSocket(nginx.wsUrl(), { headers });
  const [res] = (await once(ws, 'upgrade')) as [IncomingMessage];
  ws.terminate();
  return String(res.headers['x-affinity-key']);
}

describe('nginx in front of two gateways', () => {
  let cleanup: (() => Promise<unknown>)[] = [];
  // Every step runs even when one fails, so a failed test leaves no process behind.
  afterEach(async () => {
    const failures: unknown[] = [];
    for (const c of cleanup.reverse()) await c().catch((err: unknown) => failures.push(err));
    cleanup = [];
    if (failures.length > 0) throw failures[0];
  });

  async function cluster(env: Record<string, string> = {}) {
    const redis = await RedisProcess.start();
    cleanup.push(() => redis.destroy());
    const base = {
      REDIS_URL: redis.url,
      ZERODROP_ADMIN_TOKEN: ADMIN_TOKEN,
      // Relaxed: 200 devices, two gateways and nginx share the test machine's CPUs.
      ZERODROP_HEARTBEAT: '2s',
      ZERODROP_HEARTBEAT_TIMEOUT: '10s',
      ZERODROP_DRAIN_SPREAD: '2s',
      ...env,
    };
    const [a, b] = (await Promise.all(
      ['app', 'app_replica'].map((name) => GatewayProcess.start({ ...base, ZERODROP_INSTANCE_ID: name })),
    )) as [GatewayProcess, GatewayProcess];
    cleanup.push(
      () => a.stop('SIGKILL'),
      () => b.stop('SIGKILL'),
    );
    const nginx = await NginxProcess.start(renderFor([a, b]));
    cleanup.push(() => nginx.stop());
    const checked = await nginx.test();
    assert.ok(checked.ok, checked.output);
    return { redis, a, b, nginx };
  }

  function fleetVia(url: string, count: number, prefix: string): SimDevice[] {
    const fleet = startFleet(url, count, prefix);
    cleanup.push(() => Promise.all(fleet.map((d) => d.client.close())));
    return fleet;
  }

  const allOpen = (fleet: SimDevice[]) => fleet.every((d) => d.client.status === 'open');

  it('50 devices cut off 5 times each come back to the instance their affinity names', async () => {
    const { a, b, nginx } = await cluster();
    const cutter = await startTcpProxy(nginx.port);
    cleanup.push(() => cutter.close());
    const fleet = fleetVia(`ws://127.0.0.1:${cutter.port}/ws`, 50, 'bear-sticky');
    const heard = listen(fleet);
    const welcomed = (n: number) => () =>
      allOpen(fleet) && fleet.every((d) => heard.get(d.id)!.welcomes.length === n);
    await waitFor(welcomed(1), '50 devices welcomed', 20_000);
    const first = fleet.map((d) => heard.get(d.id)!.welcomes[0]);
    assert.ok(
      first.includes('app') && first.includes('app_replica'),
      'devices without a key are spread over both instances',
    );

    for (let cut = 1; cut <= 5; cut++) {
      assert.ok(cutter.cutAll() >= 50, 'every device connection cut at once');
      await waitFor(welcomed(cut + 1), `every device back after cut ${cut}`, 20_000);
    }
    for (const d of fleet) {
      const { welcomes } = heard.get(d.id)!;
      assert.deepEqual(
        welcomes,
        Array(6).fill(welcomes[0]),
        `${d.id}: every welcome names its first instance`,
      );
      const stats = d.client.stats();
      assert.equal(stats.resumes, 5, `${d.id} resumed its session on each reconnect`);
      assert.equal(stats.freshSessions, 1);
    }
    const [ma, mb] = [await wsMetrics(a), await wsMetrics(b)];
    assert.equal(ma.ws_active, first.filter((i) => i === 'app').length);
    assert.equal(mb.ws_active, first.filter((i) => i === 'app_replica').length);
    assert.equal((ma.resume_failures ?? 0) + (mb.resume_failures ?? 0), 0);

    // Browsers keep no X-Affinity-Key: the cookie the gateway set routes them.
    for (const instance of ['app', 'app_replica']) {
      for (let i = 0; i < 3; i++) {
        assert.equal(await upgradeLandsOn(nginx, { cookie: `zd_affinity=${instance}` }), instance);
      }
    }
  });

  it('nginx -s reload twice while 200 devices stream both ways: zero missing or duplicated', async (t) => {
    const { a, b, nginx } = await cluster();
    const fleet = fleetVia(nginx.wsUrl(), 200, 'bear-reload');
    await waitFor(() => allOpen(fleet), '200 devices open', 30_000);
    const placed = new Map(fleet.map((d) => [d.id, instanceOf(d)]));
    let turn = 0;
    const traffic = startTraffic(fleet, () => (turn++ % 2 ? a : b), 500);
    cleanup.push(() => traffic.stop());
    await sleep(1000);

    const workers = nginx.workers().length;
    for (let reload = 1; reload <= 2; reload++) {
      const checked = await nginx.test(); // runbook step 1
      assert.ok(checked.ok, checked.output);
      const started = Date.now();
      await nginx.reload(); // runbook step 2
      await waitFor(() => nginx.workers().length === workers, 'old workers gone', 10_000);
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 6000, `worker_shutdown_timeout (3 s) bounded the old workers (${tookMs} ms)`);
      await waitFor(
        () => allOpen(fleet) && fleet.every((d) => d.client.stats().connects >= reload + 1),
        `every device resumed after reload ${reload}`,
        20_000,
      );
      await sleep(500);
    }
    await traffic.stop();
    const totals = await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], {
      allowRedelivery: false,
    });
    const [ma, mb] = [await wsMetrics(a), await wsMetrics(b)];
    assert.equal(
      (ma.ws_active ?? 0) + (mb.ws_active ?? 0),
      200,
      'runbook step 3: every device connected again',
    );
    assert.equal((ma.resume_failures ?? 0) + (mb.resume_failures ?? 0), 0);
    assert.equal((ma.dropped_messages ?? 0) + (mb.dropped_messages ?? 0), 0);
    for (const d of fleet) {
      assert.equal(instanceOf(d), placed.get(d.id), `${d.id} stayed on its instance`);
      assert.equal(d.client.stats().freshSessions, 1, `${d.id} kept its session`);
    }
    const connects = fleet.map((d) => d.client.stats().connects);
    t.diagnostic(`connects per device: ${Math.min(...connects)}..${Math.max(...connects)}`);
    t.diagnostic(
      `${totals.deviceToServer} device→server and ${totals.serverToDevice} server→device messages over two reloads`,
    );
  });

  it('while one instance drains, new devices all land on the other without seeing a refusal', async () => {
    const { a, b, nginx } = await cluster();
    const started = await adminVia(nginx, 'app_replica', 'POST', 'start', {
      reason: 'rolling_deployment',
      max_session_age_seconds: 60,
    });
    assert.equal(started.state, 'draining');

    const fleet = fleetVia(nginx.wsUrl(), 40, 'bear-new');
    const heard = listen(fleet);
    await waitFor(() => allOpen(fleet), '40 devices open', 20_000);
    for (const d of fleet) {
      assert.equal(instanceOf(d), 'app', `${d.id} landed on the instance that is not draining`);
      const { errors } = heard.get(d.id)!;
      assert.deepEqual(errors, [], `${d.id} saw no error`);
      assert.equal(d.client.stats().reconnects, 0, `${d.id} connected at the first attempt`);
    }
    const refused = (await wsMetrics(b)).ws_upgrades_blocked_during_drain ?? 0;
    assert.ok(
      refused > 0,
      'some upgrades reached the draining instance, and nginx retried them on the other',
    );
    assert.equal((await wsMetrics(a)).ws_active, 40);

    const pinned = await fetch(`${nginx.url}/health/ready`, {
      headers: { 'x-zerodrop-instance': 'app_replica' },
    });
    assert.equal(pinned.status, 503, 'its own readiness, read through nginx, says it is draining');
    assert.equal((await fetch(`${nginx.url}/health/ready`)).status, 200, 'the service as a whole is ready');
  });

  it('devices of a SIGKILLed instance come back through nginx on the other and resume with zero drops', async () => {
    const { a, b, nginx } = await cluster();
    const fleet = fleetVia(nginx.wsUrl(), 40, 'bear-kill');
    await waitFor(() => allOpen(fleet), '40 devices open', 20_000);
    const onA = fleet.filter((d) => instanceOf(d) === 'app');
    assert.ok(onA.length > 0 && onA.length < 40, 'devices spread over both instances');
    // The application sends through A until it dies (A relays to B's devices), then through B. Not
    // through B before the kill: a send B relays to A as A dies has an unknown outcome that B reports
    // as store_unavailable, which the bookkeeping here cannot tell from a refusal.
    let via = a;
    const traffic = startTraffic(fleet, () => via, 100);
    cleanup.push(() => traffic.stop());
    await sleep(1000);

    await a.stop('SIGKILL');
    via = b;
    await waitFor(
      () => allOpen(fleet) && fleet.every((d) => instanceOf(d) === 'app_replica'),
      'all on B',
      20_000,
    );
    await sleep(1000);
    await traffic.stop();
    const totals = await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], {
      allowRedelivery: true,
    });
    assert.ok(totals.redelivered <= onA.length, 'at most one redelivery per device of the killed instance');
    const mb = await wsMetrics(b);
    assert.equal(mb.ws_active, 40);
    assert.equal(mb.resume_failures ?? 0, 0);
    assert.equal(mb.dropped_messages ?? 0, 0);
    for (const d of fleet) assert.equal(d.client.stats().freshSessions, 1, `${d.id} kept its session`);
  });

  it('scale down 2→1: drained through nginx, devices named for it land on the other, sticky keys go', async () => {
    const { redis, a, b, nginx } = await cluster({ ZERODROP_AFFINITY_TTL: '3s' });
    const fleet = fleetVia(nginx.wsUrl(), 40, 'bear-scale');
    await waitFor(() => allOpen(fleet), '40 devices open', 20_000);
    const onB = fleet.filter((d) => instanceOf(d) === 'app_replica');
    assert.ok(onB.length > 0, 'some devices have their affinity on app_replica');
    let via = [a, b];
    let turn = 0;
    const traffic = startTraffic(fleet, () => via[turn++ % via.length]!, 200);
    cleanup.push(() => traffic.stop());
    await sleep(800);

    // Runbook §5 step 1 and 2: drain the instance to remove, wait for its devices to move.
    await adminVia(nginx, 'app_replica', 'POST', 'start', {
      reason: 'scale_down',
      max_session_age_seconds: 10,
    });
    await waitFor(
      async () => (await adminVia(nginx, 'app_replica', 'GET', 'status')).state === 'drained',
      'app_replica drained',
      15_000,
    );
    via = [a];
    await waitFor(() => allOpen(fleet), 'every device open', 10_000);
    for (const d of onB) assert.equal(instanceOf(d), 'app', `${d.id} moved to the remaining instance`);

    // Step 4: nginx without the instance, then the instance stopped.
    await nginx.reload(renderFor([a]));
    assert.equal(await b.stop('SIGTERM'), 0, 'the removed instance stops cleanly');
    assert.equal(
      await upgradeLandsOn(nginx, { 'x-affinity-key': 'app_replica' }),
      'app',
      'an affinity naming the removed instance falls back to the pool',
    );
    await waitFor(() => nginx.workers().length === 2, 'old workers gone', 10_000);
    await waitFor(() => allOpen(fleet), 'every device open after the reload', 10_000);
    await sleep(500);
    await traffic.stop();
    await verifyDelivery(fleet, traffic, () => [...a.received, ...b.received], { allowRedelivery: false });
    assert.equal((await wsMetrics(a)).ws_active, 40);

    // Step 3: the sticky keys. Every device's names the remaining instance, and they expire by TTL.
    const store = new Redis(redis.url);
    cleanup.push(async () => store.disconnect());
    const stickyKeys = () => store.keys('sticky:affinity:*');
    const keys = await stickyKeys();
    assert.ok(keys.length > 0);
    assert.deepEqual([...new Set(await store.mget(keys))], ['app'], 'no key names the removed instance');
    await waitFor(async () => (await stickyKeys()).length === 0, 'sticky keys expired by TTL', 6000);

    // …or are purged at once, with the runbook's command pointed at this Redis.
    const late = fleetVia(nginx.wsUrl(), 5, 'bear-late');
    await waitFor(() => allOpen(late), 'late devices open', 10_000);
    await waitFor(async () => (await stickyKeys()).length === 5, 'their sticky keys', 5000);
    const cli = `redis-cli -p ${redis.port}`;
    await run('bash', ['-c', `${cli} --scan --pattern "sticky:affinity:*" | xargs ${cli} del`]);
    assert.deepEqual(await stickyKeys(), []);
  });
});
