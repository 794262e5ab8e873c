/**
 * A device worker of the backlog workload (the resume suite), as a child process. For the gateway and
 * Socket.IO: on `resume-run` it connects its devices, each through its own `NetworkGate`, and answers
 * `connected`; on `cut` it cuts every device's connection and keeps it offline (the server then queues
 * a backlog for it); on `come-back` it restores the devices one after the other over the spread, and
 * each device's client reconnects by itself (its own backoff) and resumes. For the raw `ws` baseline
 * nothing is connected before: on `come-back` each device opens a fresh connection, on which the
 * server sends the backlog at once. Either way every device times its way back, from the dial that
 * worked to the last backlog probe handed to it, and checks that the backlog arrived exactly once, in
 * order; the worker answers `resume-result` once all are back (or the bound passed) and closes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sharedClockMs } from './clock.js';
import { closeAll, dialAll } from './dialer.js';
import type { ConnectedMessage } from './ipc.js';
import { type Link, openLink, rawDeviceUrl } from './links.js';
import { NetworkGate } from './network-gate.js';
import { InboundTally } from './pacing.js';
import { fail, fromParent, toParent } from './parent-channel.js';
import type {
  ComeBackMessage,
  CutDoneMessage,
  CutMessage,
  DeviceComeBack,
  ResumePlan,
  ResumeResultMessage,
  ResumeRunMessage,
} from './workload-ipc.js';

const POLL_MS = 5;

/** One device on its way out and back. Times on the shared clock; NaN until they happen. */
class Device {
  readonly id: string;
  readonly gate = new NetworkGate();
  link: Link | undefined;
  /** Coming back: set when the device went back online; opens and arrivals before it do not count. */
  onlineAt = Number.NaN;
  dialAt = Number.NaN;
  openedAt = Number.NaN;
  caughtUpAt = Number.NaN;
  recovered = false;

  constructor(id: string) {
    this.id = id;
  }

  get back(): boolean {
    return !Number.isNaN(this.caughtUpAt);
  }

  onOpen(recovered: boolean, rawDialAt?: number): void {
    if (Number.isNaN(this.onlineAt)) return;
    this.openedAt = sharedClockMs();
    this.dialAt = rawDialAt ?? this.gate.lastDialAt;
    this.recovered = recovered;
  }

  /** `received` distinct backlog probes so far. */
  onArrival(received: number, backlog: number): void {
    if (received === backlog && Number.isNaN(this.caughtUpAt)) this.caughtUpAt = sharedClockMs();
  }

  figures(): DeviceComeBack {
    return {
      dialToCaughtUpMs: this.caughtUpAt - this.dialAt,
      dialToOpenMs: this.openedAt - this.dialAt,
      onlineToCaughtUpMs: this.caughtUpAt - this.onlineAt,
      recovered: this.recovered,
      dials: this.gate.dials,
    };
  }
}

function open(plan: ResumePlan, device: Device, tally: InboundTally, url: string): Link {
  const rawDialAt = plan.target === 'raw' ? sharedClockMs() : undefined;
  return openLink(
    plan.target,
    url,
    device.id,
    (value) => device.onArrival(tally.onProbe(device.id, value), plan.backlog),
    {
      ...(plan.target === 'raw' ? {} : { gate: device.gate }),
      onOpen: (recovered) => device.onOpen(recovered, rawDialAt),
    },
  );
}

/** Bring device i back at `at + i × spread / n`: restore its network, or (raw) dial it afresh. */
async function comeBack(
  plan: ResumePlan,
  devices: readonly Device[],
  m: ComeBackMessage,
  tally: InboundTally,
) {
  const step = devices.length > 1 ? m.spreadMs / devices.length : 0;
  for (const [i, d] of devices.entries()) {
    await sleep(Math.max(0, m.at + i * step - sharedClockMs()));
    d.onlineAt = sharedClockMs();
    if (plan.target === 'raw') d.link = open(plan, d, tally, rawDeviceUrl(plan.url, d.id, plan.backlog));
    else d.gate.restore();
  }
}

async function main(): Promise<void> {
  const { plan } = await fromParent<ResumeRunMessage>('resume-run');
  const tally = new InboundTally();
  const devices = plan.ids.map((id) => new Device(id));
  const started = sharedClockMs();
  if (plan.target !== 'raw') {
    await dialAll(
      devices.length,
      (i) => {
        const d = devices[i]!;
        d.link = open(plan, d, tally, plan.url);
        return { link: d.link };
      },
      plan.connectTimeoutMs,
    );
  }
  let result: ResumeResultMessage['result'];
  try {
    // Each answer is awaited with its listener in place before the question goes out.
    const cutting = fromParent<CutMessage>('cut');
    await toParent({ type: 'connected', connectMs: sharedClockMs() - started } satisfies ConnectedMessage);
    await cutting;
    const cut = devices.filter((d) => d.gate.cut()).length;
    const coming = fromParent<ComeBackMessage>('come-back');
    await toParent({ type: 'cut-done', cut } satisfies CutDoneMessage);
    const m = await coming;
    const deadline = m.at + m.timeoutMs;
    await comeBack(plan, devices, m, tally);
    while (!devices.every((d) => d.back) && sharedClockMs() < deadline) await sleep(POLL_MS);
    let errors = 0;
    let firstError: string | undefined;
    for (const d of devices) {
      errors += d.link?.errors.count ?? 0;
      firstError ??= d.link?.errors.first;
    }
    result = {
      devices: devices.filter((d) => d.back).map((d) => d.figures()),
      inbound: tally.counts(),
      malformed: tally.malformed,
      errors,
      firstError,
    };
  } finally {
    for (const d of devices) d.gate.restore();
    await closeAll(devices.flatMap((d) => (d.link ? [d.link] : [])));
  }
  await toParent({ type: 'resume-result', result } satisfies ResumeResultMessage);
  process.exit(0);
}

main().catch(fail);
