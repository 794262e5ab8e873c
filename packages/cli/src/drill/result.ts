/**
 * A scenario's outcome: the drill's own figures, the gateway's, and each judged against the runbook's
 * "Zero-Drop Criteria" (0 drops, resume success rate above 95 %, RTT p95 at most 150 ms, reconnection
 * within 3 s, drain within its grace period) and the runbook's "done when" for the operation. Pure:
 * the runner measures, this module judges, the reports show.
 */
import { percentileOfSorted } from '@zerodrop/protocol';
import { TARGETS } from '../commands/verify.js';
import type { DeliveryCounts } from './audit.js';
import type { InstanceReading } from './sampler.js';

/** The runbook's targets, the three `zerodrop verify` checks plus reconnection time. */
export const DRILL_TARGETS = { ...TARGETS, reconnectMs: 3000 } as const;

export interface Mark {
  /** Seconds since the traffic started. */
  readonly t: number;
  readonly label: string;
}

/** One second of a drill. */
export interface TimelinePoint {
  readonly t: number;
  readonly phase: string;
  /** Devices connected, by the instance that welcomed them (what the devices see). */
  readonly connected: Readonly<Record<string, number>>;
  /** ws_active by instance (what the gateway says). */
  readonly wsActive: Readonly<Record<string, number>>;
  /** Messages per second that arrived: at the application, and at the devices. */
  readonly deviceToAppPerS: number;
  readonly appToDevicePerS: number;
  /** Reconnections completed within this second. */
  readonly reconnects: number;
  /** p95 of the device→ack round trips of this second (ms); null without samples. */
  readonly rttP95Ms: number | null;
}

export interface DrainFigures {
  readonly instance: string;
  readonly ms: number;
  readonly graceS: number;
  readonly sessionsAtStart: number;
  readonly sessionsMoved: number;
}

/** A runbook step's outcome that decides whether the operation is done ("done when …"). */
export interface StepCheck {
  readonly name: string;
  readonly drill: string;
  readonly gateway?: string;
  readonly target: string;
  readonly ok: boolean;
}

export interface Figures {
  readonly deviceToApp: DeliveryCounts;
  readonly appToDevice: DeliveryCounts & {
    /** Sends of unknown outcome (no answer), and how many of them arrived anyway (at most once each). */
    unknownOutcome: number;
    unknownDelivered: number;
    refused: Readonly<Record<string, number>>;
  };
  /** Application arrivals, redeliveries included (what the gateway's handler count should match). */
  readonly appArrivals: number;
  readonly resumed: number;
  readonly resumeRefused: number;
  readonly reconnections: readonly number[];
  readonly rttMs: readonly number[];
  readonly drain: DrainFigures | null;
  /** Devices connected at the end, by instance. */
  readonly placement: Readonly<Record<string, number>>;
  /** Whether a gateway instance was SIGKILLed (redelivery under the same id is then expected). */
  readonly instanceKilled: boolean;
  /** Every message delivered and acknowledged before the settle timeout. */
  readonly settled: boolean;
  /** Event-loop delay p99 of the drill's own process (the load generator), in ms. */
  readonly loadGeneratorLagP99Ms: number;
  /** How long the whole fleet took to connect at the start, in batches (the drill's first step). */
  readonly connectMs: number;
}

export interface GatewayFigures {
  readonly instances: Readonly<Record<string, InstanceReading>>;
  /** Instances read for the last time before they were killed or stopped. */
  readonly readBeforeStop: readonly string[];
  /** The highest eventloop_lag_p99_ms each instance reported during the drill. */
  readonly worstLagMs: Readonly<Record<string, number>>;
}

export interface Check {
  readonly name: string;
  readonly drill: string;
  readonly gateway: string;
  readonly target: string;
  /** null: a figure shown for information, or nothing to judge (no reconnection happened). */
  readonly ok: boolean | null;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  readonly ok: boolean;
  /** Why the scenario could not run to its end, if it could not. */
  readonly error: string | null;
  readonly devices: number;
  readonly durationS: number;
  readonly ratePerS: number;
  readonly startedAt: string;
  /** The machine's 1-minute load average when the scenario started and ended (others share it too). */
  readonly loadAverage: readonly [number, number];
  readonly checks: readonly Check[];
  readonly disagreements: readonly string[];
  readonly figures: Figures;
  readonly gateway: GatewayFigures;
  readonly marks: readonly Mark[];
  readonly timeline: readonly TimelinePoint[];
}

const sum = (g: GatewayFigures, f: keyof InstanceReading) =>
  Object.values(g.instances).reduce((s, r) => s + r[f], 0);

const percentOf = (part: number, whole: number) => (whole === 0 ? null : (part / whole) * 100);
const showPercent = (p: number | null, part: number, whole: number) =>
  p === null ? 'n/a (no resumes)' : `${Number.isInteger(p) ? p : p.toFixed(1)} % (${part} of ${whole})`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** Nearest-rank percentile of an already sorted sample; null when it is empty. */
const pct = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? null : percentileOfSorted(sorted, p);

function deliveryChecks(label: string, c: DeliveryCounts, extra: string, handled: string): Check[] {
  const zero = (name: string, n: number): Check => ({
    name: `${label}: ${name}`,
    drill: String(n),
    gateway: '',
    target: '= 0',
    ok: n === 0,
  });
  return [
    {
      name: `${label}: sent / received`,
      drill: `${c.sent} / ${c.received}${extra}`,
      gateway: handled,
      target: '',
      ok: null,
    },
    zero('missing', c.missing),
    zero('duplicated', c.duplicated),
    zero('out of order', c.outOfOrder),
    zero('never sent or damaged', c.unexpected),
  ];
}

/** Every check of a scenario, in the order the reports show them. */
export function judge(f: Figures, g: GatewayFigures, steps: readonly StepCheck[]): Check[] {
  const approx =
    g.readBeforeStop.length > 0 ? ` (${g.readBeforeStop.join(', ')} read before it stopped)` : '';
  const checks: Check[] = [
    ...deliveryChecks(
      'device → app',
      f.deviceToApp,
      '',
      `${sum(g, 'messages_device_to_server')} handled${approx}`,
    ),
    {
      name: 'device → app: redelivered (same id)',
      drill: String(f.deviceToApp.redelivered),
      gateway: '',
      target: f.instanceKilled ? 'allowed after SIGKILL' : '= 0 (no instance died)',
      ok: f.instanceKilled ? null : f.deviceToApp.redelivered === 0,
    },
    ...deliveryChecks(
      'app → device',
      f.appToDevice,
      f.appToDevice.unknownOutcome > 0
        ? ` (+${f.appToDevice.unknownOutcome} sends of unknown outcome, ${f.appToDevice.unknownDelivered} of them arrived)`
        : '',
      `${sum(g, 'messages_server_to_device')} written (replays included)${approx}`,
    ),
  ];
  const missing = f.deviceToApp.missing + f.appToDevice.missing;
  const dropped = sum(g, 'dropped_messages');
  checks.push({
    name: 'dropped messages',
    drill: `${missing} missing`,
    gateway: `dropped_messages ${dropped}`,
    target: '= 0',
    ok: missing === 0 && dropped === 0 && f.settled,
  });
  const rate = percentOf(f.resumed, f.resumed + f.resumeRefused);
  const gResumes = sum(g, 'ws_resumes');
  const gFailures = sum(g, 'resume_failures');
  const gRate = percentOf(gResumes, gResumes + gFailures);
  const rateOk = (p: number | null) => p === null || p > DRILL_TARGETS.resumeSuccessPercent;
  checks.push({
    name: 'resume success rate',
    drill: showPercent(rate, f.resumed, f.resumed + f.resumeRefused),
    gateway: showPercent(gRate, gResumes, gResumes + gFailures),
    target: `> ${DRILL_TARGETS.resumeSuccessPercent} %`,
    ok: rate === null && gRate === null ? null : rateOk(rate) && rateOk(gRate),
  });
  const rec = [...f.reconnections].sort((a, b) => a - b);
  const recMax = rec.at(-1) ?? null;
  checks.push({
    name: 'reconnection time p50 / p95 / max',
    drill:
      recMax === null
        ? 'none'
        : `${seconds(pct(rec, 50)!)} / ${seconds(pct(rec, 95)!)} / ${seconds(recMax)} (${rec.length})`,
    gateway: '',
    target: `<= ${DRILL_TARGETS.reconnectMs / 1000} s`,
    ok: recMax === null ? null : recMax <= DRILL_TARGETS.reconnectMs,
  });
  const rtt = [...f.rttMs].sort((a, b) => a - b);
  const rttP95 = pct(rtt, 95);
  const sampled = Object.entries(g.instances).filter(([, r]) => r.rtt_samples > 0);
  const gRtt = sampled.length === 0 ? null : Math.max(...sampled.map(([, r]) => r.rtt_p95_ms));
  checks.push({
    name: 'RTT p95',
    drill: rttP95 === null ? 'n/a (no samples)' : `${Math.round(rttP95)} ms (${rtt.length} send→ack)`,
    gateway:
      gRtt === null ? 'n/a (no samples)' : `${sampled.map(([i, r]) => `${i} ${r.rtt_p95_ms} ms`).join(', ')}`,
    target: `<= ${DRILL_TARGETS.rttP95Ms} ms`,
    ok: (rttP95 ?? 0) <= DRILL_TARGETS.rttP95Ms && (gRtt ?? 0) <= DRILL_TARGETS.rttP95Ms,
  });
  if (f.drain) {
    const d = f.drain;
    checks.push({
      name: `drain time (${d.instance})`,
      drill: `${seconds(d.ms)}, ${d.sessionsMoved} of ${d.sessionsAtStart} moved`,
      gateway: '',
      target: `<= ${d.graceS} s (grace)`,
      ok: d.ms <= d.graceS * 1000,
    });
  }
  for (const s of steps) checks.push({ ...s, gateway: s.gateway ?? '' });
  // Not a target: how loaded each process was at its worst, to read an RTT or reconnection miss by.
  checks.push({
    name: 'event-loop lag p99 (worst)',
    drill: `${f.loadGeneratorLagP99Ms} ms (the drill itself)`,
    gateway: Object.entries(g.worstLagMs)
      .map(([i, ms]) => `${i} ${ms} ms`)
      .join(', '),
    target: '',
    ok: null,
  });
  return checks;
}

/** Where the drill's counts and the gateway's counters disagree, in words. */
export function disagreements(f: Figures, g: GatewayFigures): string[] {
  const out: string[] = [];
  const partial = g.readBeforeStop.length > 0;
  const missing = f.deviceToApp.missing + f.appToDevice.missing;
  const dropped = sum(g, 'dropped_messages');
  if (missing !== dropped)
    out.push(`the drill found ${missing} message(s) missing, the gateway counts dropped_messages ${dropped}`);
  const compare = (what: string, drill: number, gateway: number) => {
    // A stopped instance's counters end at its last reading: a lower bound, only "more" contradicts.
    if (partial ? gateway > drill : gateway !== drill)
      out.push(`${what}: the drill counted ${drill}, the gateway ${gateway}${partial ? ' (at least)' : ''}`);
  };
  compare('resumes', f.resumed, sum(g, 'ws_resumes'));
  compare('refused resumes', f.resumeRefused, sum(g, 'resume_failures'));
  compare('device messages handed to the application', f.appArrivals, sum(g, 'messages_device_to_server'));
  const delivered = f.appToDevice.received + f.appToDevice.unknownDelivered + f.appToDevice.duplicated;
  const written = sum(g, 'messages_server_to_device');
  if (written < delivered && !partial)
    out.push(`the devices received ${delivered} message(s), the gateway counts only ${written} written`);
  for (const [instance, r] of Object.entries(g.instances)) {
    if (g.readBeforeStop.includes(instance)) continue;
    const seen = f.placement[instance] ?? 0;
    if (seen !== r.ws_active)
      out.push(`${instance}: ${seen} device(s) connected by the devices' account, ws_active ${r.ws_active}`);
  }
  return out;
}
