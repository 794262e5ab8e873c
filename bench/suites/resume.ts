/**
 * Target 4, resume: from reconnecting to caught up with a 100-message backlog. 200 devices on the SDK
 * (10 with --quick), each through a network gate (network-gate.ts), are connected to one gateway with
 * the Redis store (the memory store as a reference row). Every connection is cut at once: its socket
 * destroyed under the SDK, no close frame (the SDK sees code 1006, an unclean loss, and the gateway a
 * vanished TCP connection), and the devices stay offline while the application queues 100 numbered
 * messages for each with `gateway.send` (all in the store before anyone comes back). Then the devices
 * come back online one after another over SPREAD, and each SDK reconnects by itself with its backoff
 * and resumes. The figure is per device, from the dial of the connection that worked to the 100th
 * message handed to its application: the WebSocket upgrade, the resume handshake (the session claimed
 * in the store, the token rotated), the replay and its delivery. The client's backoff before that dial
 * is policy, not gateway work, and is reported apart ("online → caught up").
 *
 * The baseline, in the same run: the same devices, at the same moments, each open a fresh connection to
 * a raw `ws` server that sends it 100 messages at once: the least any server can do to hand a device
 * 100 messages over a new WebSocket (TCP and upgrade, then the bytes). It keeps no session and
 * guarantees nothing; what the gateway adds on top is the price of resuming where the device left off.
 * A fleet-wide storm of simultaneous resumes is not this target (the drain suite and the drills cover
 * that); the devices here come back at about 100 a second.
 */
import type { ServerKind } from '../options.js';
import { type ResumeResult, runResumeScenario } from '../resume-scenario.js';
import { ServerSet } from '../servers.js';
import { markdownTable, row, type SuiteContext, type SuiteResult, type TargetRow } from '../suite.js';
import { workersFor } from './latency.js';

/** Target 4: reconnect to caught up with a 100-message backlog, p99. */
export const MAX_CATCH_UP_P99_MS = 100;

export interface ResumeScale {
  readonly devices: number;
  readonly backlog: number;
  /** The devices come back evenly over this time. */
  readonly spreadMs: number;
}

export function resumeScale(quick: boolean): ResumeScale {
  return quick
    ? { devices: 10, backlog: 100, spreadMs: 500 }
    : { devices: 200, backlog: 100, spreadMs: 2_000 };
}

const ms = (v: number | undefined) =>
  v === undefined || Number.isNaN(v) ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
const int = (v: number) => Math.round(v).toLocaleString('en-US');

export function resumeTables(results: readonly ResumeResult[]): string[] {
  const figures = markdownTable(
    [
      ['server', 'left'],
      ['devices', 'right'],
      ['backlog', 'right'],
      ['dial → caught up p50 / p99 / max ms', 'right'],
      ['dial → open p50 / p99 ms', 'right'],
      ['online → caught up p50 / p99 ms', 'right'],
      ['resumed', 'right'],
      ['server noticed cut ms', 'right'],
      ['backlog queued ms', 'right'],
      ['lost', 'right'],
      ['dup', 'right'],
    ],
    results.map((r) => [
      r.label,
      int(r.devices),
      int(r.backlog),
      `${ms(r.dialToCaughtUp.p50)} / ${ms(r.dialToCaughtUp.p99)} / ${ms(r.dialToCaughtUp.max)}`,
      `${ms(r.dialToOpen.p50)} / ${ms(r.dialToOpen.p99)}`,
      `${ms(r.onlineToCaughtUp.p50)} / ${ms(r.onlineToCaughtUp.p99)}`,
      r.server === 'raw' ? '— (fresh)' : `${int(r.recovered)} of ${int(r.devices)}`,
      ms(r.noticeMs),
      ms(r.backlogMs),
      int(r.delivery.missing),
      int(r.delivery.duplicates),
    ]),
  );
  const books = results.map((r) => {
    const d = r.delivery;
    const extra = [
      r.caughtUp < r.devices ? `${int(r.devices - r.caughtUp)} devices never caught up` : '',
      d.outOfOrder > 0 ? `${int(d.outOfOrder)} out of order` : '',
      d.unexpected > 0 ? `${int(d.unexpected)} unexpected` : '',
      r.errors > 0 ? `${int(r.errors)} connection errors (first: ${r.firstError})` : '',
    ].filter(Boolean);
    return (
      `${(r.ok ? 'ok' : 'FAILED').padEnd(6)} ${r.label}: backlog sent ${int(d.sent)}, received ` +
      `${int(d.received)}, lost ${int(d.missing)}, duplicated ${int(d.duplicates)}` +
      (extra.length > 0 ? `; ${extra.join(', ')}` : '')
    );
  });
  return [figures, ['Backlog delivery (every message once, in order):', ...books].join('\n  ')];
}

/** Run the backlog workload against each server of `servers`, in order. */
export async function runResumeScenarios(
  ctx: SuiteContext,
  servers: ServerSet,
  scale: ResumeScale,
  tag: string,
): Promise<ResumeResult[]> {
  const results: ResumeResult[] = [];
  for (const server of servers.servers) {
    ctx.signal.throwIfAborted();
    const r = await runResumeScenario(server, {
      ...scale,
      workers: workersFor(ctx),
      idPrefix: `bench-${ctx.runId}-${tag}-${server.kind}`,
    });
    results.push(r);
    ctx.progress(
      `  ${r.label}, ${r.devices} devices × ${r.backlog} messages: dial → caught up p50 ` +
        `${ms(r.dialToCaughtUp.p50)} ms, p99 ${ms(r.dialToCaughtUp.p99)} ms, ` +
        `${r.ok ? 'every message once' : 'MESSAGES LOST OR DUPLICATED'}`,
    );
  }
  return results;
}

function targetRows(results: readonly ResumeResult[], judged: boolean): TargetRow[] {
  const raw = results.find((r) => r.server === 'raw');
  const rows: TargetRow[] = [];
  for (const r of results) {
    if (r.server === 'raw') continue;
    const reference = r.server !== 'redis';
    const target = reference ? '4. resume (memory store, reference)' : '4. resume';
    const what = `${r.label}, ${r.devices} devices × ${r.backlog}-message backlog`;
    for (const p of ['p50', 'p99'] as const) {
      rows.push(
        row(
          {
            target,
            figure: `reconnect → caught up ${p}, ${what}`,
            measured: r.dialToCaughtUp[p],
            unit: 'ms',
            goal: p === 'p99' ? `≤ ${MAX_CATCH_UP_P99_MS} ms` : 'reported',
            baseline: raw
              ? { label: `raw ws fresh connect + ${raw.backlog} msgs ${p}`, value: raw.dialToCaughtUp[p] }
              : undefined,
          },
          p === 'p99' ? { max: MAX_CATCH_UP_P99_MS, judged: judged && !reference } : { judged: false },
        ),
      );
    }
  }
  return rows;
}

export async function resumeSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const scale = resumeScale(ctx.options.quick);
  const kinds: ServerKind[] = ctx.options.quick ? ['raw', 'redis'] : ['raw', 'redis', 'memory'];
  const servers = new ServerSet();
  const stop = () => void servers.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  let results: ResumeResult[];
  try {
    await servers.start(kinds, ctx.options.cpuProfDir);
    results = await runResumeScenarios(ctx, servers, scale, 'resume');
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await servers.stop();
  }
  return {
    suite: 'resume',
    targets: targetRows(results, !ctx.options.quick),
    ok: results.every((r) => r.ok),
    text: [
      `${scale.devices} devices cut at once (no close frame), ${scale.backlog} messages queued for each ` +
        `while offline, back online evenly over ${scale.spreadMs / 1000} s; SDK backoff 50 ms doubling to ` +
        '1 s. Times per device, from the dial that worked.',
      ...resumeTables(results),
    ],
    data: { scale, scenarios: results },
  };
}
