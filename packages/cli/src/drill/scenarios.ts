/**
 * The runbook's five operations as drills, each step as the runbook (docs/OPERATIONS.md) writes it,
 * against a lab under traffic. A step's outcome that the runbook's "done when" names is recorded as a
 * check; the delivery and the targets are judged by the runner for every scenario alike.
 */
import { performance } from 'node:perf_hooks';
import { fetchMetrics } from '../gateway-metrics.js';
import { RUNBOOK_SAVE } from '../lab/redis-process.js';
import { type InstanceName, LAB_INSTANCES } from '../lab/topology.js';
import { redisCli } from './redis-cli.js';
import type { DrainFigures } from './result.js';
import type { DrainStatus, Scenario, ScenarioContext } from './runner.js';

/** Runbook §1 step 2 and §5 step 1: the drain windows it gives. */
const ROLLING_MAX_AGE_S = 60;
const SCALE_DOWN_MAX_AGE_S = 120;
/** The lab's worker_shutdown_timeout (5 s), plus room for a loaded machine. */
const OLD_WORKERS_WITHIN_MS = 8000;

const other = (name: InstanceName): InstanceName => (name === 'app' ? 'app_replica' : 'app');
const allOpen = (ctx: ScenarioContext) => ctx.fleet.every((d) => d.client.status === 'open');
const openOn = (ctx: ScenarioContext, name: string) =>
  ctx.fleet.every((d) => d.client.status === 'open' && d.client.stats().lastWelcome?.instance === name);

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Start a drain and wait until the instance is drained (its devices left, or its deadline passed). */
async function drain(ctx: ScenarioContext, name: InstanceName, reason: string, maxAgeS: number) {
  ctx.phase(`drain ${name}`);
  await ctx.admin(name, 'POST', 'start', { reason, max_session_age_seconds: maxAgeS });
  ctx.mark(`drain start ${name}`);
  const drained = await ctx.until(
    async () => {
      const s = await ctx.admin(name, 'GET', 'status');
      return s.state === 'drained' ? s : undefined;
    },
    `${name} to be drained`,
    (maxAgeS + 15) * 1000,
  );
  ctx.mark(`${name} drained`);
  return drained;
}

function drainFigures(instance: string, s: DrainStatus, graceS: number): DrainFigures {
  return {
    instance,
    ms: Date.parse(s.completed_at!) - Date.parse(s.started_at!),
    graceS,
    sessionsAtStart: s.sessions_at_start,
    sessionsMoved: s.sessions_moved,
  };
}

/** The instance most devices are connected to (the one whose crash hurts most). */
function busiest(ctx: ScenarioContext): InstanceName {
  const placed = ctx.probe.placement();
  return [...LAB_INSTANCES].sort((a, b) => (placed[b] ?? 0) - (placed[a] ?? 0) || a.localeCompare(b))[0]!;
}

const rollingDeploy: Scenario = {
  name: 'rolling-deploy',
  title: 'Rolling deployment A → B (runbook §1)',
  instances: ['app'],
  routing: () => ({ kind: 'instance', name: 'app' }),
  async run(ctx) {
    await ctx.warmUp();
    // Step 1: deploy B, wait for its health check.
    ctx.phase('deploy app_replica');
    await ctx.lab.startInstance('app_replica');
    const readyUrl = `${ctx.lab.instanceUrl('app_replica')}/health/ready`;
    await ctx.until(async () => (await get(readyUrl)).status === 200, 'app_replica to be ready', 30_000);
    ctx.mark('app_replica ready');
    // Steps 2 and 3: drain A through the admin API, watch the devices move.
    await drain(ctx, 'app', 'rolling_deployment', ROLLING_MAX_AGE_S);
    // Step 4: switch (the application sends through B; nginx already routes around A's 503s), complete.
    ctx.phase('switch, complete');
    ctx.route({ kind: 'instance', name: 'app_replica' });
    ctx.mark('switch to app_replica');
    const completed = await ctx.admin('app', 'POST', 'complete');
    ctx.mark('drain complete');
    ctx.check({
      name: 'drain complete on app',
      drill: `${completed.state}, sessions_remaining ${completed.sessions_remaining}`,
      target: 'drained, 0 remaining',
      ok: completed.state === 'drained' && completed.sessions_remaining === 0,
    });
    ctx.recordDrain(drainFigures('app', completed, ROLLING_MAX_AGE_S));
    // Step 5 (verify zero drops) is the drill's own verdict, taken while A still runs.
    ctx.expectPlacement({ app: 0, app_replica: ctx.fleet.length });
  },
};

const nginxReload: Scenario = {
  name: 'nginx-reload',
  title: 'nginx reload under traffic (runbook §2)',
  instances: LAB_INSTANCES,
  routing: () => ({ kind: 'round-robin' }),
  async run(ctx) {
    await ctx.warmUp();
    const before = ctx.probe.placement();
    const nginx = ctx.lab.nginx;
    // Step 1: test the configuration.
    ctx.phase('nginx -t');
    const tested = await nginx.test();
    ctx.mark('nginx -t');
    ctx.check({
      name: 'nginx -t',
      drill: tested.ok ? 'test is successful' : tested.output,
      target: 'successful',
      ok: tested.ok,
    });
    if (!tested.ok) throw new Error(`nginx -t failed: ${tested.output}`);
    // Step 2: reload. Old workers keep their devices until worker_shutdown_timeout, then hand them over.
    ctx.phase('nginx -s reload');
    const workers = nginx.workers().length;
    const started = performance.now();
    await nginx.reload();
    ctx.mark('nginx -s reload');
    ctx.phase('old workers');
    await ctx.until(() => nginx.workers().length === workers, 'the old nginx workers to exit', 30_000);
    const ms = performance.now() - started;
    ctx.mark('old workers gone');
    ctx.check({
      name: 'old nginx workers gone',
      drill: `${(ms / 1000).toFixed(1)} s after the reload`,
      target: `<= ${OLD_WORKERS_WITHIN_MS / 1000} s`,
      ok: ms <= OLD_WORKERS_WITHIN_MS,
    });
    // Step 3: the connections are back where they were.
    ctx.phase('reconnect');
    await ctx.until(() => allOpen(ctx), 'every device connected again', 20_000);
    ctx.expectPlacement(before);
  },
};

const instanceCrash: Scenario = {
  name: 'instance-crash',
  title: 'Instance crash recovery (runbook §3)',
  instances: LAB_INSTANCES,
  // Through the instance that will die, until it dies (it relays to the other's devices); a send the
  // survivor relayed to it as it died would have an outcome nobody can know.
  routing: (ctx) => ({ kind: 'instance', name: busiest(ctx) }),
  async run(ctx) {
    await ctx.warmUp();
    const victim = busiest(ctx);
    const survivor = other(victim);
    ctx.phase(`SIGKILL ${victim}`);
    await ctx.lastReading(victim);
    await ctx.lab.instances.get(victim)!.stop('SIGKILL');
    ctx.instanceKilled();
    ctx.route({ kind: 'instance', name: survivor });
    ctx.mark(`SIGKILL ${victim}`);
    // Step 1: the resume store answers.
    ctx.phase('check the store');
    const pong = await redisCli(ctx.lab.redis.url)('ping');
    ctx.mark('redis-cli ping');
    ctx.check({ name: 'redis-cli -u $REDIS_URL ping', drill: pong, target: 'PONG', ok: pong === 'PONG' });
    // Step 2: the devices reconnect and resume on the survivor.
    ctx.phase('reconnect');
    await ctx.until(() => openOn(ctx, survivor), `every device on ${survivor}`, 30_000);
    ctx.mark(`all on ${survivor}`);
    // Step 3 (resume success rate above 95 %) is one of the drill's targets.
    ctx.expectPlacement({ [survivor]: ctx.fleet.length });
  },
};

const redisRestart: Scenario = {
  name: 'redis-restart',
  title: 'Redis restart under traffic (runbook §4)',
  instances: LAB_INSTANCES,
  // Each device through the instance holding it: live sessions keep working from memory while Redis
  // is away, whereas a send relayed through Redis to the other instance cannot be.
  routing: () => ({ kind: 'holder' }),
  async run(ctx) {
    await ctx.warmUp();
    const before = ctx.probe.placement();
    const redis = ctx.lab.redis;
    const cli = redisCli(redis.url);
    // Pre-restart 1 and 2: persistence on, a snapshot forced.
    ctx.phase('CONFIG SET save');
    const set = await cli('CONFIG', 'SET', 'save', RUNBOOK_SAVE);
    ctx.mark('CONFIG SET save');
    ctx.check({
      name: `redis-cli CONFIG SET save "${RUNBOOK_SAVE}"`,
      drill: set,
      target: 'OK',
      ok: set === 'OK',
    });
    ctx.phase('BGSAVE');
    const saves = async () => Number(/rdb_saves:(\d+)/.exec(await cli('INFO', 'persistence'))?.[1] ?? 0);
    const savesBefore = await saves();
    await cli('BGSAVE');
    ctx.mark('BGSAVE');
    await ctx.until(async () => (await saves()) > savesBefore, 'BGSAVE to finish', 15_000);
    const status = /rdb_last_bgsave_status:(\w+)/.exec(await cli('INFO', 'persistence'))?.[1];
    ctx.check({
      name: 'redis-cli BGSAVE',
      drill: `snapshot written, status ${status}`,
      target: 'ok',
      ok: status === 'ok',
    });
    // During the restart: the gateway stays up and says the store is degraded.
    ctx.phase('redis restart');
    await redis.stop('SIGTERM');
    ctx.mark('redis stopped');
    const healthUrls = ctx.lab.running().map((g) => `${g.url}/health`);
    const healthOf = async () => Promise.all(healthUrls.map(get));
    const degraded = await ctx.until(
      async () => {
        const all = await healthOf();
        return all.every((h) => h.status === 200 && h.body.status === 'degraded') ? all : undefined;
      },
      '/health to report the store degraded',
      10_000,
    );
    ctx.check({
      name: 'health while Redis is away',
      drill: degraded
        .map((h) => `${String(h.body.instance)} ${h.status} ${String(h.body.status)}`)
        .join(', '),
      target: '200 degraded',
      ok: true,
    });
    await ctx.hold(1500);
    await redis.startProcess();
    ctx.mark('redis started');
    // After: the store is back, every write that waited is replayed.
    ctx.phase('store recovery');
    const urls = ctx.lab.running().map((g) => g.url);
    const stores = await ctx.until(
      async () => {
        const read = await fetchMetrics(urls, 2000);
        const rs = read.map((r) => (r.ok ? r.response.body.resume_store_metrics : undefined));
        return rs.every((m) => m?.status === 'ready' && m.pending_writes === 0) ? rs : undefined;
      },
      'resume_store_metrics ready with 0 pending writes',
      30_000,
    );
    ctx.mark('store ready');
    ctx.check({
      name: 'resume_store_metrics after the restart',
      drill: stores
        .map(
          (m) =>
            `status ${String(m?.status)}, pending_writes ${String(m?.pending_writes)}, resets ${String(m?.resets)}`,
        )
        .join('; '),
      target: 'ready, 0 pending',
      ok: true,
    });
    ctx.expectPlacement(before);
  },
};

const scaleDown: Scenario = {
  name: 'scale-down',
  title: 'Scale down 2 → 1 (runbook §5)',
  instances: LAB_INSTANCES,
  routing: () => ({ kind: 'round-robin' }),
  async run(ctx) {
    await ctx.warmUp();
    // Steps 1 and 2: drain the instance to remove; its devices move to the other one.
    const drained = await drain(ctx, 'app_replica', 'scale_down', SCALE_DOWN_MAX_AGE_S);
    ctx.route({ kind: 'instance', name: 'app' });
    ctx.recordDrain(drainFigures('app_replica', drained, SCALE_DOWN_MAX_AGE_S));
    // Step 3: verify both while B still runs (the drill reads B's counters before it stops).
    await ctx.lastReading('app_replica');
    // Step 4: the sticky keys, purged with the runbook's own line.
    ctx.phase('sticky purge');
    const cli = redisCli(ctx.lab.redis.url);
    const keys = async () =>
      (await cli('--scan', '--pattern', 'sticky:affinity:*')).split('\n').filter(Boolean).length;
    const before = await keys();
    await cli.pipeline('redis-cli --scan --pattern "sticky:affinity:*" | xargs redis-cli del');
    const after = await keys();
    ctx.mark('sticky keys purged');
    ctx.check({
      name: 'redis-cli --scan --pattern "sticky:affinity:*" | xargs redis-cli del',
      drill: `${before} keys before, ${after} after`,
      target: '0 after',
      ok: after === 0,
    });
    // Step 5: remove the instance: nginx without it first, then stop it.
    ctx.phase('remove app_replica');
    const workers = ctx.lab.nginx.workers().length;
    await ctx.lab.nginx.reload(ctx.lab.nginxConfigFor(['app']));
    ctx.mark('nginx reload without app_replica');
    const code = await ctx.lab.instances.get('app_replica')!.stop('SIGTERM');
    ctx.mark('app_replica stopped');
    ctx.check({
      name: 'app_replica stops on SIGTERM',
      drill: `exit code ${code}`,
      target: '0',
      ok: code === 0,
    });
    await ctx.until(
      () => ctx.lab.nginx.workers().length === workers,
      'the old nginx workers to exit',
      30_000,
    );
    await ctx.until(() => allOpen(ctx), 'every device connected again', 20_000);
    ctx.expectPlacement({ app: ctx.fleet.length });
  },
};

export const SCENARIOS: readonly Scenario[] = [
  rollingDeploy,
  nginxReload,
  instanceCrash,
  redisRestart,
  scaleDown,
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
