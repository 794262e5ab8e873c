/**
 * One backlog (resume) scenario against one server. Gateway and Socket.IO: the devices connect, every
 * connection is cut (no close frame) and the devices stay offline; once the server has noticed, the
 * application queues `backlog` numbered messages for each; then the devices come back online one after
 * the other over `spreadMs`, reconnect by themselves and resume. Raw `ws`: each device opens a fresh
 * connection at its turn and the server sends the backlog on it at once. Per device: from the dial
 * that worked to the whole backlog handed to the application; and the books: every backlog message
 * exactly once, in order. Workers never outlive the scenario.
 */
import {
  BenchChild,
  CONNECT_TIMEOUT_MS,
  REPLY_TIMEOUT_MS,
  WORKER_CLOSE_MS,
  WORKER_START_MS,
} from './child.js';
import { sharedClockMs } from './clock.js';
import type { ConnectedMessage } from './ipc.js';
import { deal } from './latency-scenario.js';
import type { ServerKind } from './options.js';
import {
  compareDeliveries,
  type DeliveryCount,
  deliveredOnce,
  type Percentiles,
  percentiles,
  type ReceivedCounts,
} from './pacing.js';
import type { ServerUnderTest } from './servers.js';
import type {
  AwayMessage,
  AwayRequest,
  BacklogMessage,
  BacklogRequest,
  ComeBackMessage,
  CutDoneMessage,
  ResumeResultMessage,
  ResumeRunMessage,
} from './workload-ipc.js';

export interface ResumePlanOptions {
  readonly devices: number;
  readonly backlog: number;
  readonly spreadMs: number;
  readonly workers: number;
  readonly idPrefix: string;
}

export interface ResumeResult {
  readonly server: ServerKind;
  readonly label: string;
  readonly devices: number;
  readonly backlog: number;
  readonly spreadMs: number;
  /** Devices whose whole backlog arrived. */
  readonly caughtUp: number;
  /** Devices whose session the server resumed (gateway `resumed`, Socket.IO `recovered`; raw: 0). */
  readonly recovered: number;
  /** From the dial that worked to the last backlog message handed to the application. */
  readonly dialToCaughtUp: Percentiles;
  /** From the dial to the session being usable (welcome / connect / open). */
  readonly dialToOpen: Percentiles;
  /** From going back online to caught up: the client's backoff on top. */
  readonly onlineToCaughtUp: Percentiles;
  /** How long the server took to notice the cut (every session detached). */
  readonly noticeMs: number | undefined;
  /** How long queueing the whole backlog took (every message accepted). */
  readonly backlogMs: number | undefined;
  readonly delivery: DeliveryCount;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly ok: boolean;
}

const AWAY_TIMEOUT_MS = 10_000;
const BACKLOG_TIMEOUT_MS = 60_000;
/** After the last device came online: what catching up may take before it counts as missing. */
const CATCH_UP_TIMEOUT_MS = 30_000;
const START_MARGIN_MS = 200;

export async function runResumeScenario(
  server: ServerUnderTest,
  plan: ResumePlanOptions,
): Promise<ResumeResult> {
  const ids = Array.from({ length: plan.devices }, (_, i) => `${plan.idPrefix}-${i}`);
  const hands = deal(ids, plan.workers);
  const workers: BenchChild[] = [];
  const reconnecting = server.target !== 'raw';
  try {
    for (const [i, hand] of hands.entries()) {
      const worker = BenchChild.start(new URL('./resume-worker.ts', import.meta.url), {
        name: `resume worker ${i + 1} (${server.label}, ${plan.devices} devices)`,
      });
      workers.push(worker);
      worker.send<ResumeRunMessage>({
        type: 'resume-run',
        plan: {
          target: server.target,
          url: server.url,
          ids: hand,
          backlog: plan.backlog,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        },
      });
    }
    await Promise.all(
      workers.map((w) => w.next<ConnectedMessage>('connected', WORKER_START_MS + CONNECT_TIMEOUT_MS)),
    );
    const cuts = await Promise.all(
      workers.map((w) => w.request<CutDoneMessage>({ type: 'cut' }, 'cut-done', REPLY_TIMEOUT_MS)),
    );
    let noticeMs: number | undefined;
    let backlogMs: number | undefined;
    if (reconnecting) {
      const cut = cuts.reduce((n, c) => n + c.cut, 0);
      if (cut !== plan.devices) throw new Error(`${cut} of ${plan.devices} connections were cut`);
      const awayRequest: AwayRequest = { type: 'away', ids, timeoutMs: AWAY_TIMEOUT_MS };
      const away = await server.child.request<AwayMessage>(
        awayRequest,
        'away-done',
        AWAY_TIMEOUT_MS + REPLY_TIMEOUT_MS,
      );
      if (away.stillAttached > 0) {
        throw new Error(`${server.label} still held ${away.stillAttached} connections after the cut`);
      }
      noticeMs = away.ms;
      const backlogRequest: BacklogRequest = { type: 'backlog', ids, count: plan.backlog };
      const queued = await server.child.request<BacklogMessage>(
        backlogRequest,
        'backlog-done',
        BACKLOG_TIMEOUT_MS,
      );
      if (queued.failures > 0) {
        throw new Error(
          `${server.label} refused ${queued.failures} backlog messages: ${queued.firstFailure}`,
        );
      }
      backlogMs = queued.ms;
    }
    // Device g (dealt to worker g mod W) comes back at at + g × spread / devices.
    const at = sharedClockMs() + START_MARGIN_MS;
    const step = plan.spreadMs / plan.devices;
    for (const [w, worker] of workers.entries()) {
      worker.send<ComeBackMessage>({
        type: 'come-back',
        at: at + w * step,
        spreadMs: plan.spreadMs,
        timeoutMs: plan.spreadMs + CATCH_UP_TIMEOUT_MS,
      });
    }
    const results = await Promise.all(
      workers.map(async (w) => {
        const m = await w.next<ResumeResultMessage>(
          'resume-result',
          START_MARGIN_MS + plan.spreadMs + CATCH_UP_TIMEOUT_MS + WORKER_CLOSE_MS,
        );
        return m.result;
      }),
    );
    await Promise.all(workers.map((w) => w.exited(5_000)));

    const devices = results.flatMap((r) => r.devices);
    const received = new Map<string, ReceivedCounts>();
    for (const r of results) for (const [id, c] of r.inbound) received.set(id, c);
    const delivery = compareDeliveries(
      new Map(ids.map((id) => [id, plan.backlog])),
      received,
      results.reduce((n, r) => n + r.malformed, 0),
    );
    return {
      server: server.kind,
      label: server.kind === 'raw' ? 'raw ws' : server.label,
      devices: plan.devices,
      backlog: plan.backlog,
      spreadMs: plan.spreadMs,
      caughtUp: devices.length,
      recovered: devices.filter((d) => d.recovered).length,
      dialToCaughtUp: percentiles(Float64Array.from(devices, (d) => d.dialToCaughtUpMs)),
      dialToOpen: percentiles(Float64Array.from(devices, (d) => d.dialToOpenMs)),
      onlineToCaughtUp: percentiles(Float64Array.from(devices, (d) => d.onlineToCaughtUpMs)),
      noticeMs,
      backlogMs,
      delivery,
      errors: results.reduce((n, r) => n + r.errors, 0),
      firstError: results.find((r) => r.firstError !== undefined)?.firstError,
      ok: deliveredOnce(delivery) && delivery.outOfOrder === 0 && devices.length === plan.devices,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.stop()));
  }
}
