/**
 * A capacity load worker, as a child process of `run.ts`: on `open` it dials its share of idle
 * connections (device SDK clients against the gateway, plain `ws` clients against the raw baseline),
 * a bounded number at a time so the server's accept backlog never overflows, and answers `opened`. On
 * `trickle` every connection sends one probe per period on average, and on `settle` the trickle stops,
 * the outstanding echoes are awaited (bounded) and counted; `close` closes every connection. One
 * worker serves several plans in turn (the baseline, then the gateway).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CapacityPlan,
  OpenedMessage,
  OpenMessage,
  SettledMessage,
  SettleMessage,
  TrickleMessage,
  TrickleResult,
} from './capacity-ipc.js';
import { fileLimit } from './capacity-limits.js';
import type { BenchMessage } from './child.js';
import type { Probe } from './echo-loop.js';
import { type Link, openDeviceLink, openRawLink } from './links.js';
import { fail, toParent } from './parent-channel.js';

/** The trickle sends on this tick; each tick sends its share of the period's probes. */
const TICK_MS = 100;
/** How often `settle` checks for the last outstanding echoes. */
const SETTLE_POLL_MS = 20;
/** Bound on closing every connection (each close has its own bound too). */
const CLOSE_ALL_MS = 15_000;

let links: Link[] = [];
let trickleTimer: NodeJS.Timeout | undefined;
let cpuAtTrickle: NodeJS.CpuUsage | undefined;
let nextProbe = 0;
const outstanding = new Set<number>();
let echoed = 0;
let duplicates = 0;

function onEcho(value: unknown): void {
  const n = (value as Probe).n;
  if (outstanding.delete(n)) echoed++;
  else duplicates++;
}

async function openAll(plan: CapacityPlan): Promise<OpenedMessage> {
  const started = performance.now();
  const deadline = started + plan.connectTimeoutMs;
  let next = 0;
  const dialer = async () => {
    while (next < plan.connections) {
      const index = next++;
      const link =
        plan.target === 'raw'
          ? openRawLink(plan.url, onEcho)
          : openDeviceLink(plan.url, `${plan.idPrefix}-${index}`, onEcho);
      links.push(link);
      const left = deadline - performance.now();
      const timedOut = sleep(Math.max(0, left), 'timeout' as const, { ref: false });
      if ((await Promise.race([link.ready.then(() => 'open' as const), timedOut])) === 'timeout') {
        throw new Error(
          `${links.length} of ${plan.connections} connections were not open within ${plan.connectTimeoutMs} ms`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.dialConcurrency, plan.connections) }, dialer));
  return {
    type: 'opened',
    open: links.length,
    connectMs: performance.now() - started,
    fileLimit: fileLimit(),
  };
}

function startTrickle(periodMs: number): void {
  cpuAtTrickle = process.cpuUsage();
  outstanding.clear();
  echoed = 0;
  duplicates = 0;
  // Each connection's turn comes once per period; where the round starts differs per worker.
  let cursor = Math.floor(Math.random() * links.length);
  let owed = 0;
  trickleTimer = setInterval(() => {
    owed += (links.length * TICK_MS) / periodMs;
    for (; owed >= 1; owed--) {
      const n = ++nextProbe;
      outstanding.add(n);
      links[cursor]!.send({ t: performance.now(), n } satisfies Probe);
      cursor = (cursor + 1) % links.length;
    }
  }, TICK_MS);
}

async function settle(timeoutMs: number): Promise<TrickleResult> {
  clearInterval(trickleTimer);
  trickleTimer = undefined;
  const cpu = process.cpuUsage(cpuAtTrickle);
  const until = performance.now() + timeoutMs;
  while (outstanding.size > 0 && performance.now() < until) await sleep(SETTLE_POLL_MS);
  let reconnects = 0;
  let errors = 0;
  let firstError: string | undefined;
  for (const link of links) {
    reconnects += link.reconnects();
    errors += link.errors.count;
    firstError ??= link.errors.first;
  }
  return {
    sent: echoed + outstanding.size,
    echoed,
    missing: outstanding.size,
    duplicates,
    reconnects,
    errors,
    firstError,
    cpuUs: cpu.user + cpu.system,
  };
}

async function closeAll(): Promise<void> {
  clearInterval(trickleTimer);
  const closing = links;
  links = [];
  await Promise.race([
    Promise.allSettled(closing.map((l) => l.close())),
    sleep(CLOSE_ALL_MS, undefined, { ref: false }),
  ]);
}

async function onMessage(m: BenchMessage): Promise<void> {
  switch (m.type) {
    case 'open':
      await toParent(await openAll((m as OpenMessage).plan));
      return;
    case 'trickle':
      startTrickle((m as TrickleMessage).periodMs);
      return;
    case 'settle':
      await toParent({
        type: 'settled',
        result: await settle((m as SettleMessage).timeoutMs),
      } satisfies SettledMessage);
      return;
    case 'close':
      await closeAll();
      await toParent({ type: 'closed' });
      return;
  }
}

process.on('message', (m: BenchMessage) => void onMessage(m).catch(fail));
