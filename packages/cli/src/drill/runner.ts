/**
 * Runs one scenario on a clean lab of its own: connects the fleet through nginx, streams both ways,
 * lets the scenario operate the cluster as the runbook says while it records one timeline point a
 * second (and prints it), stops the traffic, waits for every message to settle, then counts both ends
 * and reads the gateway's counters. Whatever happens, the lab is stopped before it returns.
 */
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { requestJson } from '../http.js';
import { Lab } from '../lab/lab.js';
import type { InstanceName } from '../lab/topology.js';
import { sleep, waitFor } from '../lab/wait.js';
import { auditFleet, settle } from './audit.js';
import { type SimDevice, startFleet } from './fleet.js';
import { FleetProbe } from './probe.js';
import { progressLine, TimelineRecorder } from './recorder.js';
import {
  type DrainFigures,
  disagreements,
  type Figures,
  judge,
  type Mark,
  type ScenarioResult,
  type StepCheck,
} from './result.js';
import { MetricsSampler } from './sampler.js';
import { type Sender, startTraffic } from './traffic.js';

export interface DrillOptions {
  readonly devices: number;
  readonly durationS: number;
  /** Messages per second per device, each way. */
  readonly rate: number;
  /** Where the one-line-a-second progress goes (stderr), or nowhere. */
  readonly progress: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Settings for the lab's gateways on top of the drill's own (e.g. ZERODROP_DRAIN_SPREAD). */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
}

/** Whom the application sends through. */
export type Routing =
  | { readonly kind: 'instance'; readonly name: InstanceName }
  | { readonly kind: 'round-robin' }
  /** The instance the device is connected to (live sessions keep working from memory without Redis). */
  | { readonly kind: 'holder' };

export interface DrainStatus {
  readonly state: 'serving' | 'draining' | 'drained';
  readonly started_at: string | null;
  readonly completed_at: string | null;
  readonly sessions_at_start: number;
  readonly sessions_moved: number;
  readonly sessions_remaining: number;
}

/** What a scenario can do while the traffic flows. */
export interface ScenarioContext {
  readonly lab: Lab;
  readonly fleet: readonly SimDevice[];
  readonly probe: FleetProbe;
  readonly options: DrillOptions;
  /** Name what is happening now (shown in the progress line and the timeline). */
  phase(name: string): void;
  /** Mark the moment of an operation on the timeline. */
  mark(label: string): void;
  /** Let the traffic flow for `ms`. */
  hold(ms: number): Promise<void>;
  /** The first phase of every scenario: traffic flows before anything is operated. */
  warmUp(): Promise<void>;
  /** Poll until `check` is truthy, throwing after `timeoutMs`. */
  until<T>(check: () => T | Promise<T>, what: string, timeoutMs: number): Promise<NonNullable<T>>;
  route(routing: Routing): void;
  /** Read an instance's counters one last time before it is killed or stopped. */
  lastReading(name: InstanceName): Promise<void>;
  /** The admin API of one instance, with the lab's admin token. */
  admin(name: InstanceName, method: 'GET' | 'POST', action: string, body?: unknown): Promise<DrainStatus>;
  recordDrain(drain: DrainFigures): void;
  /** A runbook step's outcome that decides whether the operation is done. */
  check(step: StepCheck): void;
  /** The runbook's "done when": where every device is at the end, by instance. */
  expectPlacement(expected: Readonly<Record<string, number>>): void;
  /** An instance was SIGKILLed: redelivery under the same id is expected. */
  instanceKilled(): void;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** Instances running when the fleet connects. */
  readonly instances: readonly InstanceName[];
  /** Whom the application sends through when the traffic starts (the fleet is connected by then). */
  routing(ctx: ScenarioContext): Routing;
  run(ctx: ScenarioContext): Promise<void>;
}

const CONNECT_BATCH = 50;
/**
 * The gateway pings every 15 s in production; a drill lasts about as long, so its lab pings every
 * 5 s and the gateway's rtt_p95_ms has samples to compare with the drill's own RTT.
 */
const DRILL_GATEWAY_ENV = { ZERODROP_HEARTBEAT: '5s' };
const SETTLE_TIMEOUT_MS = 30_000;

export async function runScenario(scenario: Scenario, options: DrillOptions): Promise<ScenarioResult> {
  const lab = await Lab.start({
    start: scenario.instances,
    gatewayEnv: { ...DRILL_GATEWAY_ENV, ...options.gatewayEnv },
  });
  try {
    return await drive(lab, scenario, options);
  } finally {
    await lab.stop();
  }
}

async function drive(lab: Lab, scenario: Scenario, options: DrillOptions): Promise<ScenarioResult> {
  const fleet = startFleet(lab.wsUrl, options.devices, 'bear', {
    secret: lab.secrets.deviceSecret,
    autoConnect: false,
  });
  try {
    return await operate(lab, fleet, scenario, options);
  } finally {
    // However the drill ends (done, failed, interrupted), no device keeps reconnecting after it.
    await Promise.all(fleet.map((d) => d.client.close()));
  }
}

async function operate(
  lab: Lab,
  fleet: SimDevice[],
  scenario: Scenario,
  options: DrillOptions,
): Promise<ScenarioResult> {
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let t0 = performance.now();
  const now = () => performance.now() - t0;
  const probe = new FleetProbe(fleet, now);
  const sampler = new MetricsSampler();
  const marks: Mark[] = [];
  const steps: StepCheck[] = [];
  let drain: DrainFigures | null = null;
  let expected: Readonly<Record<string, number>> | undefined;
  let killed = false;
  const router = createRouter(lab);
  const abort = () => {
    if (options.signal?.aborted) throw new Error('interrupted');
  };

  // The fleet connects in batches, as a fleet powering up does, not as one storm of handshakes.
  const connectFrom = performance.now();
  for (let i = 0; i < fleet.length; i += CONNECT_BATCH) {
    for (const d of fleet.slice(i, i + CONNECT_BATCH)) d.client.connect();
    await sleep(50);
  }
  await waitFor(() => fleet.every((d) => d.client.status === 'open'), 'every device connected', 60_000, 50);
  const connectMs = Math.round(performance.now() - connectFrom);

  const recorder = new TimelineRecorder(lab, fleet, probe, sampler, now, (point) =>
    options.progress(progressLine(scenario.name, point, fleet.length, probe.reconnections.length)),
  );

  const ctx: ScenarioContext = {
    lab,
    fleet,
    probe,
    options,
    phase: (name) => {
      recorder.phase = name;
    },
    mark: (label) => void marks.push({ t: Math.round(now() / 100) / 10, label }),
    hold: async (ms) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        abort();
        await sleep(Math.min(100, end - performance.now()));
      }
    },
    warmUp: async () => {
      recorder.phase = 'warm-up';
      await ctx.hold(Math.max(2000, options.durationS * 200));
    },
    until: (check, what, timeoutMs) =>
      waitFor(
        () => {
          abort();
          return check();
        },
        what,
        timeoutMs,
        100,
      ),
    route: (r) => router.route(r),
    lastReading: (name) => sampler.lastReading({ name, url: lab.instanceUrl(name) }),
    admin: (name, method, action, body) => adminCall(lab, name, method, action, body),
    recordDrain: (d) => {
      drain = d;
    },
    check: (step) => void steps.push(step),
    expectPlacement: (placement) => {
      expected = placement;
    },
    instanceKilled: () => {
      killed = true;
    },
  };

  router.route(scenario.routing(ctx));
  loopDelay.enable();
  t0 = performance.now();
  const traffic = startTraffic(fleet, router.via, {
    intervalMs: 1000 / options.rate,
    binaryEvery: 2,
    // A send relayed to another instance that gets no answer may still have been appended there.
    unknownOutcome: ['instance_stopped', 'store_unavailable'],
    retryOn: ['buffer_full', 'unknown_device', 'session_moved'],
    onDeviceSend: (d) => probe.sent(d),
  });
  recorder.start();
  let error: string | null = null;
  try {
    await scenario.run(ctx);
    recorder.phase = 'steady';
    await ctx.hold(Math.max(2000, options.durationS * 1000 - now()));
  } catch (err) {
    error = (err as Error).message;
  }
  recorder.phase = 'settle';
  try {
    await traffic.stop();
  } catch (err) {
    error ??= (err as Error).message;
  }
  const settled = !options.signal?.aborted && (await settle(fleet, traffic, SETTLE_TIMEOUT_MS));
  loopDelay.disable();
  await recorder.stop();
  options.signal?.throwIfAborted();

  const counts = auditFleet(
    fleet,
    traffic,
    [...lab.instances.values()].flatMap((g) => g.received),
  );
  const placement = probe.placement();
  if (expected) steps.push(placementCheck(expected, placement, sampler.latest));

  const figures: Figures = {
    ...counts,
    resumed: probe.resumed,
    resumeRefused: probe.resumeRefused,
    reconnections: probe.reconnections.map((r) => Math.round(r.ms)),
    rttMs: probe.rtt.map((s) => Math.round(s.ms * 10) / 10),
    drain,
    placement,
    instanceKilled: killed,
    settled,
    loadGeneratorLagP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
    connectMs,
  };
  const gateway = {
    instances: Object.fromEntries(sampler.latest),
    readBeforeStop: [...sampler.stopped],
    worstLagMs: Object.fromEntries(sampler.worstLagMs),
  };
  if (!settled && error === null)
    error = `not every message was delivered within ${SETTLE_TIMEOUT_MS / 1000} s of the traffic stopping`;
  const checks = judge(figures, gateway, steps);
  return {
    scenario: scenario.name,
    title: scenario.title,
    ok: error === null && checks.every((c) => c.ok !== false),
    error,
    devices: options.devices,
    durationS: options.durationS,
    ratePerS: options.rate,
    startedAt,
    loadAverage: [loadAtStart, loadavg()[0]!],
    checks,
    disagreements: disagreements(figures, gateway),
    figures,
    gateway,
    marks,
    timeline: recorder.points,
  };
}

/** Whom each application send goes through: the scenario routes, the traffic asks per send. */
function createRouter(lab: Lab) {
  let routing: Routing = { kind: 'round-robin' };
  let turn = 0;
  return {
    route(r: Routing): void {
      routing = r;
    },
    via(d: SimDevice): Sender {
      if (routing.kind === 'instance') return lab.instances.get(routing.name)!;
      const running = lab.running();
      if (routing.kind === 'holder') {
        const holder = running.find((g) => g.instance === d.client.stats().lastWelcome?.instance);
        if (holder) return holder;
      }
      // Nothing runs (the moment between a kill and the route change): the send finds the instance stopped.
      return running[turn++ % running.length] ?? lab.instances.values().next().value!;
    },
  };
}

function placementCheck(
  expected: Readonly<Record<string, number>>,
  placement: Readonly<Record<string, number>>,
  readings: ReadonlyMap<string, { ws_active: number }>,
): StepCheck {
  const names = Object.keys(expected);
  const show = (get: (name: string) => number | undefined) =>
    names.map((n) => `${n} ${get(n) ?? '-'}`).join(', ');
  return {
    name: 'devices per instance at the end',
    drill: show((n) => placement[n] ?? 0),
    gateway: `ws_active ${show((n) => readings.get(n)?.ws_active)}`,
    target: show((n) => expected[n]),
    ok: names.every((n) => (placement[n] ?? 0) === expected[n]),
  };
}

async function adminCall(
  lab: Lab,
  name: InstanceName,
  method: 'GET' | 'POST',
  action: string,
  body?: unknown,
): Promise<DrainStatus> {
  const target = { url: lab.instanceUrl(name), token: lab.secrets.adminToken, timeoutMs: 10_000 };
  return (await requestJson<DrainStatus>(target, method, `/admin/drain/${action}`, { body })).body;
}
