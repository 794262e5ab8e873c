/**
 * The drill's one-second record: every second it reads the gateways' metrics, takes the devices'
 * view from the probe, turns counts into rates, appends a timeline point and prints it as the
 * progress line. A tick that is still reading when the next is due is skipped, never doubled.
 */
import { percentile } from '@zerodrop/protocol';
import type { Lab } from '../lab/lab.js';
import { sleep } from '../lab/wait.js';
import type { SimDevice } from './fleet.js';
import type { FleetProbe } from './probe.js';
import type { TimelinePoint } from './result.js';
import type { MetricsSampler } from './sampler.js';

export class TimelineRecorder {
  readonly points: TimelinePoint[] = [];
  /** What is happening now, as the scenario names it. */
  phase = 'connect';
  readonly #lab: Lab;
  readonly #fleet: readonly SimDevice[];
  readonly #probe: FleetProbe;
  readonly #sampler: MetricsSampler;
  readonly #now: () => number;
  readonly #print: (point: TimelinePoint) => void;
  #last = { t: 0, app: 0, device: 0, reconnects: 0, rtt: 0 };
  #ticking: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    lab: Lab,
    fleet: readonly SimDevice[],
    probe: FleetProbe,
    sampler: MetricsSampler,
    now: () => number,
    print: (point: TimelinePoint) => void,
  ) {
    this.#lab = lab;
    this.#fleet = fleet;
    this.#probe = probe;
    this.#sampler = sampler;
    this.#now = now;
    this.#print = print;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), 1000);
  }

  /** Stop ticking, and record one last point once the current tick is done. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#ticking) await sleep(20);
    await this.tick();
  }

  tick(): Promise<void> {
    this.#ticking ??= this.#record().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #record(): Promise<void> {
    const running = this.#lab.running();
    await this.#sampler.read(running.map((g) => ({ name: g.instance, url: g.url })));
    const t = this.#now();
    const app = [...this.#lab.instances.values()].reduce((s, g) => s + g.received.length, 0);
    const device = this.#fleet.reduce((s, d) => s + d.received.length, 0);
    const { reconnections, rtt } = this.#probe;
    const last = this.#last;
    const span = Math.max(0.001, (t - last.t) / 1000);
    const recent = rtt.slice(last.rtt).map((s) => s.ms);
    const wsActive: Record<string, number> = {};
    for (const g of running) wsActive[g.instance] = this.#sampler.latest.get(g.instance)?.ws_active ?? 0;
    const point: TimelinePoint = {
      t: Math.round(t / 100) / 10,
      phase: this.phase,
      connected: this.#probe.placement(),
      wsActive,
      deviceToAppPerS: Math.round((app - last.app) / span),
      appToDevicePerS: Math.round((device - last.device) / span),
      reconnects: reconnections.length - last.reconnects,
      rttP95Ms: recent.length === 0 ? null : Math.round(percentile(recent, 95)),
    };
    this.points.push(point);
    this.#last = { t, app, device, reconnects: reconnections.length, rtt: rtt.length };
    this.#print(point);
  }
}

/** One timeline point as the progress line on stderr. */
export function progressLine(
  scenario: string,
  p: TimelinePoint,
  devices: number,
  reconnects: number,
): string {
  const placed = Object.entries(p.connected)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([i, n]) => `${i} ${n}`)
    .join(', ');
  const open = Object.values(p.connected).reduce((s, n) => s + n, 0);
  return [
    `${scenario} ${p.t.toFixed(0).padStart(3)} s`,
    p.phase.padEnd(18),
    `devices ${placed || 'none'} (${open}/${devices} connected)`,
    `device→app ${p.deviceToAppPerS}/s, app→device ${p.appToDevicePerS}/s`,
    `reconnects ${reconnects}`,
    `rtt p95 ${p.rttP95Ms ?? '-'} ms`,
  ].join(' | ');
}
