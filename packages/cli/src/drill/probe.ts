/**
 * What the devices themselves see, from the SDK's events, independently of the gateway's counters:
 * where each device is connected, every reconnection (from the socket dropping to the next welcome)
 * with its outcome, and the round-trip time of device messages (sent → acknowledged, which the gateway
 * does only after the application handled the message and the store recorded it). A message whose
 * acknowledgement came over another connection than the one it was sent on measures a reconnection,
 * not a round trip, and is left out of the RTT.
 */
import type { WelcomeFrame } from '@zerodrop/protocol';
import type { SimDevice } from './fleet.js';

export interface Reconnection {
  /** When the device was welcomed again, in ms on the drill's clock. */
  readonly at: number;
  /** From the socket dropping to the welcome. */
  readonly ms: number;
  readonly outcome: WelcomeFrame['outcome'];
  readonly from: string | undefined;
  readonly to: string;
}

export interface RttSample {
  readonly at: number;
  readonly ms: number;
}

interface DeviceState {
  /** Welcomes so far: the connection a message was sent on. */
  connection: number;
  droppedAt: number | undefined;
  instance: string | undefined;
  /** Sent and not yet acknowledged: id (= position in `sent`), when, on which connection (-1: none). */
  readonly pending: { id: number; at: number; connection: number }[];
}

export class FleetProbe {
  readonly reconnections: Reconnection[] = [];
  readonly rtt: RttSample[] = [];
  /** Welcomes that answered a resume with `resumed`, and with `fresh` (a refused resume). */
  resumed = 0;
  resumeRefused = 0;
  readonly #now: () => number;
  readonly #states = new Map<SimDevice, DeviceState>();

  constructor(fleet: readonly SimDevice[], now: () => number) {
    this.#now = now;
    for (const d of fleet) this.#watch(d);
  }

  #watch(d: SimDevice): void {
    const s: DeviceState = { connection: 0, droppedAt: undefined, instance: undefined, pending: [] };
    this.#states.set(d, s);
    d.client.on('status', (status) => {
      if (status === 'reconnecting' && s.connection > 0 && s.droppedAt === undefined)
        s.droppedAt = this.#now();
    });
    d.client.on('welcome', (w) => {
      const at = this.#now();
      s.connection++;
      if (s.droppedAt !== undefined) {
        this.reconnections.push({
          at,
          ms: at - s.droppedAt,
          outcome: w.outcome,
          from: s.instance,
          to: w.instance,
        });
        s.droppedAt = undefined;
      }
      if (w.outcome === 'resumed') this.resumed++;
      else if (w.reason !== undefined) this.resumeRefused++;
      s.instance = w.instance;
    });
    d.client.on('ack', (upTo) => {
      const at = this.#now();
      while (s.pending.length > 0 && s.pending[0]!.id <= upTo) {
        const p = s.pending.shift()!;
        if (p.connection === s.connection) this.rtt.push({ at, ms: at - p.at });
      }
    });
  }

  /** A device message was accepted by the SDK (the traffic's `onDeviceSend`). */
  sent(d: SimDevice): void {
    const s = this.#states.get(d)!;
    const open = d.client.status === 'open';
    s.pending.push({ id: d.sent.length, at: this.#now(), connection: open ? s.connection : -1 });
  }

  /** Devices connected right now, by the instance that welcomed them. */
  placement(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [d, s] of this.#states) {
      if (d.client.status === 'open' && s.instance) out[s.instance] = (out[s.instance] ?? 0) + 1;
    }
    return out;
  }

  /** Devices not connected right now. */
  disconnected(): number {
    let n = 0;
    for (const d of this.#states.keys()) if (d.client.status !== 'open') n++;
    return n;
  }
}
