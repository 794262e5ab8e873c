/**
 * A load worker, as a child process of `run.ts` so that the load does not share an event loop with the
 * server under test. On `run` it opens its share of the connections and answers `connected`; on
 * `start` every connection runs its closed loop for the warm-up and the measured window, then stops
 * sending, waits (bounded) for the outstanding echoes, closes, and answers `result`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeAll, dialAll } from './dialer.js';
import { EchoLoop, LoadWindow } from './echo-loop.js';
import type { ConnectedMessage, ResultMessage, RunMessage, WorkerPlan, WorkerResult } from './ipc.js';
import { type Link, openLink } from './links.js';
import { fail, fromParent, toParent } from './parent-channel.js';

/** How often the drain checks for outstanding echoes. */
const DRAIN_POLL_MS = 10;

interface Connection {
  readonly link: Link;
  readonly loop: EchoLoop;
}

function open(plan: WorkerPlan, load: LoadWindow, index: number): Connection {
  let loop: EchoLoop | undefined;
  const onEcho = (value: unknown) => loop?.onEcho(value);
  const link = openLink(plan.target, plan.url, `${plan.idPrefix}-${index}`, onEcho);
  loop = new EchoLoop(load, (probe) => link.send(probe));
  return { link, loop };
}

async function drain(connections: readonly Connection[], timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (connections.every((c) => c.loop.outstanding === 0)) break;
    await sleep(DRAIN_POLL_MS);
  }
  return performance.now() - started;
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

async function runLoad(plan: WorkerPlan, load: LoadWindow, connections: Connection[]): Promise<WorkerResult> {
  load.start(performance.now(), plan.warmupMs, plan.durationMs);
  for (const c of connections) c.loop.fill();
  await sleep(plan.warmupMs);
  const cpuAtStart = process.cpuUsage();
  await sleep(Math.max(0, load.measureUntil - performance.now()));
  const cpuUs = cpuMicros(cpuAtStart);
  const drainMs = await drain(connections, plan.drainTimeoutMs);

  let sent = 0;
  let received = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let reconnects = 0;
  let errors = 0;
  let firstError: string | undefined;
  for (const { loop, link } of connections) {
    sent += loop.sent;
    received += loop.received;
    missing += loop.outstanding;
    duplicates += loop.duplicates;
    outOfOrder += loop.outOfOrder;
    reconnects += link.reconnects();
    errors += link.errors.count;
    firstError ??= link.errors.first;
  }
  return {
    echoes: load.echoes,
    windowMs: load.measureUntil - load.measureFrom,
    latenciesMs: load.samples.toArray(),
    samplesDropped: load.samples.dropped,
    sent,
    received,
    missing,
    duplicates,
    outOfOrder,
    reconnects,
    errors,
    firstError,
    cpuUs,
    drainMs,
  };
}

async function main(): Promise<void> {
  const { plan } = await fromParent<RunMessage>('run');
  const load = new LoadWindow(plan.window);
  const started = performance.now();
  const connections = await dialAll(plan.connections, (i) => open(plan, load, i), plan.connectTimeoutMs);
  let result: WorkerResult;
  try {
    await toParent({ type: 'connected', connectMs: performance.now() - started } satisfies ConnectedMessage);
    await fromParent('start');
    result = await runLoad(plan, load, connections);
  } finally {
    // Closed before the result goes out, so the next scenario never overlaps this one's teardown.
    await closeAll(connections.map((c) => c.link));
  }
  await toParent({ type: 'result', result } satisfies ResultMessage);
  process.exit(0);
}

main().catch(fail);
