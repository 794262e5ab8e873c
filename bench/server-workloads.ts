/**
 * The application side of the paced (latency) and backlog (resume) workloads, shared by the three
 * server children (raw `ws`, gateway, Socket.IO) so that each runs the very same application: it tallies
 * the devices' paced probes, pushes its own at the same rate with the shared clock's time in them, and
 * queues a numbered backlog for devices that are away. Each server supplies a `WorkloadHost`: how to
 * push to a device, which devices are connected, and (raw only) how to ping one. While no paced run is
 * on, device messages are the server's own business (the echo of the throughput suite).
 */

import type { BenchMessage } from './child.js';
import { sharedClockMs } from './clock.js';
import { LatencySamples, type Probe } from './echo-loop.js';
import { InboundTally, Pacer, percentiles } from './pacing.js';
import { fail, toParent } from './parent-channel.js';
import type {
  AwayMessage,
  AwayRequest,
  BacklogMessage,
  BacklogRequest,
  PacedReportMessage,
  PacedSentMessage,
  PacedStartedMessage,
  PacedStartMessage,
} from './workload-ipc.js';

export interface WorkloadHost {
  /**
   * Hand one probe to the server's send path. A promise settles once the server accepted it (the
   * gateway: in its store); undefined when the send is synchronous (see `settled`).
   */
  push(deviceId: string, probe: Probe): Promise<unknown> | undefined;
  /** Device ids with a live connection now. */
  devices(): string[];
  /** How many of `ids` still have a live connection. */
  attached(ids: readonly string[]): number;
  /** Resolves once every push so far is accepted, for servers whose `push` does not say (Socket.IO). */
  settled?(): Promise<void>;
  /** Send a transport-level ping to the device; the host reports the pong through `onRtt`. */
  ping?(deviceId: string): void;
  /** The server's own figure over its recent RTT samples, when it keeps one (the gateway). */
  ownRtt?(): { p50: number; p95: number; p99: number };
}

/** Bound on waiting for pushes to settle after a window or a backlog. */
const SETTLE_TIMEOUT_MS = 20_000;
const AWAY_POLL_MS = 5;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class ServerWorkloads {
  readonly #host: WorkloadHost;
  #tally: InboundTally | undefined;
  #rtt: LatencySamples | undefined;
  #window = { from: 0, until: 0 };
  #pacer: Pacer<string> | undefined;
  #pinger: Pacer<string> | undefined;
  readonly #pushed = new Map<string, number>();
  #pending = 0;
  #failures = 0;
  #firstFailure: string | undefined;

  constructor(host: WorkloadHost) {
    this.#host = host;
    process.on('message', (m: BenchMessage) => {
      this.#handle(m).catch(fail);
    });
  }

  /** A paced run is on: device messages are probes to tally, not to echo. */
  get pacing(): boolean {
    return this.#tally !== undefined;
  }

  /** A device message arrived while pacing. */
  onInbound(deviceId: string, value: unknown): void {
    this.#tally?.onProbe(deviceId, value);
  }

  /** The server measured one RTT (ms). */
  onRtt(ms: number): void {
    const now = sharedClockMs();
    if (this.#rtt && now >= this.#window.from && now < this.#window.until) this.#rtt.add(ms);
  }

  async #handle(m: BenchMessage): Promise<void> {
    switch (m.type) {
      case 'paced-start':
        await this.#start(m as PacedStartMessage);
        return;
      case 'paced-stop':
        await this.#stop();
        return;
      case 'paced-report':
        await this.#report();
        return;
      case 'away':
        await this.#away(m as AwayRequest);
        return;
      case 'backlog':
        await this.#backlog(m as BacklogRequest);
        return;
    }
  }

  #push(deviceId: string, n: number): Promise<void> | undefined {
    const pushed = this.#host.push(deviceId, { t: sharedClockMs(), n });
    if (!pushed) return undefined;
    this.#pending++;
    return pushed.then(
      () => {
        this.#pending--;
      },
      (err: unknown) => {
        this.#pending--;
        this.#failures++;
        this.#firstFailure ??= message(err);
      },
    );
  }

  async #start(m: PacedStartMessage): Promise<void> {
    const devices = this.#host.devices().sort();
    this.#tally = new InboundTally().measure(m.measureFrom, m.measureUntil);
    this.#rtt = new LatencySamples();
    this.#window = { from: m.measureFrom, until: m.measureUntil };
    this.#pushed.clear();
    this.#failures = 0;
    this.#firstFailure = undefined;
    this.#pacer = new Pacer(devices, m.ratePerSec, (id) => {
      const n = (this.#pushed.get(id) ?? 0) + 1;
      this.#pushed.set(id, n);
      void this.#push(id, n);
    });
    void this.#pacer.run(m.startAt, m.measureUntil);
    const ping = this.#host.ping?.bind(this.#host);
    if (ping && m.pingEveryMs > 0) {
      this.#pinger = new Pacer(devices, 1000 / m.pingEveryMs, ping);
      void this.#pinger.run(m.startAt, m.measureUntil);
    }
    await toParent({ type: 'paced-started', devices: devices.length } satisfies PacedStartedMessage);
  }

  async #settle(): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (this.#pending > 0 && Date.now() < deadline) await sleep(AWAY_POLL_MS);
    await this.#host.settled?.();
  }

  async #stop(): Promise<void> {
    this.#pacer?.stop();
    this.#pinger?.stop();
    await this.#settle();
    const lateness = this.#pacer ? percentiles(this.#pacer.lateness.toArray()).p99 : Number.NaN;
    await toParent({
      type: 'paced-sent',
      pushed: new Map(this.#pushed),
      failures: this.#failures + this.#pending,
      firstFailure:
        this.#firstFailure ?? (this.#pending > 0 ? `${this.#pending} pushes never settled` : undefined),
      latenessP99Ms: lateness,
    } satisfies PacedSentMessage);
  }

  async #report(): Promise<void> {
    const tally = this.#tally ?? new InboundTally();
    const rtt = this.#rtt?.toArray();
    this.#tally = undefined;
    this.#rtt = undefined;
    this.#pacer = undefined;
    this.#pinger = undefined;
    await toParent({
      type: 'paced-report',
      inbound: tally.counts(),
      malformed: tally.malformed,
      deviceToAppMs: tally.samples.toArray(),
      rttMs: rtt && rtt.length > 0 ? rtt : undefined,
      ownRtt: this.#host.ownRtt?.(),
    } satisfies PacedReportMessage);
  }

  async #away(m: AwayRequest): Promise<void> {
    const started = Date.now();
    let attached = this.#host.attached(m.ids);
    while (attached > 0 && Date.now() - started < m.timeoutMs) {
      await sleep(AWAY_POLL_MS);
      attached = this.#host.attached(m.ids);
    }
    await toParent({
      type: 'away-done',
      ms: Date.now() - started,
      stillAttached: attached,
    } satisfies AwayMessage);
  }

  async #backlog(m: BacklogRequest): Promise<void> {
    const started = Date.now();
    this.#failures = 0;
    this.#firstFailure = undefined;
    // One device's probes one after the other (their order is the device's order); devices side by side.
    await Promise.all(
      m.ids.map(async (id) => {
        for (let n = 1; n <= m.count; n++) await this.#push(id, n);
      }),
    );
    await this.#settle();
    await toParent({
      type: 'backlog-done',
      ms: Date.now() - started,
      failures: this.#failures,
      firstFailure: this.#firstFailure,
    } satisfies BacklogMessage);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
