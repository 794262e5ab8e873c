/**
 * A device worker of the paced workload (the latency suite), as a child process: on `paced-run` it
 * opens its devices (one connection each: device SDK, socket.io-client or plain `ws`) and answers
 * `connected`; on `paced-go` every device sends `ratePerSec` probes a second, open loop (never waiting
 * for an answer, all devices' sends spread evenly), from the window's start to its end, and every push
 * from the server is tallied with its one-way latency; on `paced-finish` it waits (bounded) until the
 * server acknowledged every probe and every push the server reports sending has arrived, closes, and
 * answers `paced-result`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedClockMs } from './clock.js';
import { closeAll, dialAll } from './dialer.js';
import type { ConnectedMessage } from './ipc.js';
import { type Link, openLink, rawDeviceUrl } from './links.js';
import { InboundTally, Pacer, percentiles } from './pacing.js';
import { fail, fromParent, toParent } from './parent-channel.js';
import type {
  PacedFinishMessage,
  PacedGoMessage,
  PacedResultMessage,
  PacedRunMessage,
  PacedWorkerResult,
} from './workload-ipc.js';

const POLL_MS = 10;

interface Device {
  readonly id: string;
  readonly link: Link;
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

/** Wait until `done()` or `timeoutMs`; returns the time waited. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<number> {
  const started = sharedClockMs();
  while (!done() && sharedClockMs() - started < timeoutMs) await sleep(POLL_MS);
  return sharedClockMs() - started;
}

async function main(): Promise<void> {
  const { plan } = await fromParent<PacedRunMessage>('paced-run');
  const tally = new InboundTally();
  const sent = new Map<string, number>();
  const started = sharedClockMs();
  const devices = await dialAll(
    plan.ids.length,
    (i): Device => {
      const id = plan.ids[i]!;
      const url = plan.target === 'raw' ? rawDeviceUrl(plan.url, id) : plan.url;
      return { id, link: openLink(plan.target, url, id, (value) => tally.onProbe(id, value)) };
    },
    plan.connectTimeoutMs,
  );
  let result: PacedWorkerResult;
  try {
    const going = fromParent<PacedGoMessage>('paced-go');
    await toParent({ type: 'connected', connectMs: sharedClockMs() - started } satisfies ConnectedMessage);
    const go = await going;
    // Listening before the window ends: the parent sends `paced-finish` as soon as it is over.
    const finishing = fromParent<PacedFinishMessage>('paced-finish');
    tally.measure(go.measureFrom, go.measureUntil);
    const pacer = new Pacer(devices, plan.ratePerSec, (d) => {
      const n = (sent.get(d.id) ?? 0) + 1;
      sent.set(d.id, n);
      d.link.send({ t: sharedClockMs(), n });
    });
    const sending = pacer.run(go.startAt, go.measureUntil);
    await sleep(Math.max(0, go.measureFrom - sharedClockMs()));
    const cpuAtStart = process.cpuUsage();
    await sending;
    const cpuUs = cpuMicros(cpuAtStart);
    const finish = await finishing;
    const unacked = () => devices.reduce((n, d) => n + d.link.unacked(), 0);
    const drainMs = await waitFor(
      () => unacked() === 0 && [...finish.expected].every(([id, n]) => tally.receivedFrom(id) >= n),
      finish.timeoutMs,
    );
    let errors = 0;
    let firstError: string | undefined;
    for (const d of devices) {
      errors += d.link.errors.count;
      firstError ??= d.link.errors.first;
    }
    result = {
      sent,
      inbound: tally.counts(),
      malformed: tally.malformed,
      appToDeviceMs: tally.samples.toArray(),
      latenessP99Ms: percentiles(pacer.lateness.toArray()).p99,
      unacked: unacked(),
      reconnects: devices.reduce((n, d) => n + d.link.reconnects(), 0),
      errors,
      firstError,
      cpuUs,
      drainMs,
    };
  } finally {
    await closeAll(devices.map((d) => d.link));
  }
  await toParent({ type: 'paced-result', result } satisfies PacedResultMessage);
  process.exit(0);
}

main().catch(fail);
