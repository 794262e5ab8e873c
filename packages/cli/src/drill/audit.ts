/**
 * The exactly-once bookkeeping: what one end sent against what the other end received, per device
 * and direction, counted rather than asserted, so a drill can report a loss instead of stopping at it.
 *
 * Device → application: the application receives `id = <session>/<seq>`. The same id arriving again
 * is a redelivery: after an instance is SIGKILLed between the handler resolving and the store recording
 * it, the next instance hands the message over again under the same id (docs/ARCHITECTURE.md), so an
 * application keyed on the id does nothing twice. The same message under another id is a true
 * duplicate. Application → device: a message whose send was accepted must arrive exactly once, in
 * order; one whose send outcome is unknown may arrive, at most once.
 */

import type { AppMessage } from '../lab/gateway-process.js';
import { sleep } from '../lab/wait.js';
import type { SimDevice } from './fleet.js';
import { numberOf } from './numbering.js';
import type { Traffic } from './traffic.js';

/** What one direction of one device (or of a whole fleet, summed) came to. */
export interface DeliveryCounts {
  /** Messages the source had accepted (and, for the application's sends, those with unknown outcome). */
  sent: number;
  /** Distinct messages of those that arrived. */
  received: number;
  /** Accepted and never arrived. */
  missing: number;
  /** Arrived more than once (under different ids, for device → application). */
  duplicated: number;
  /** Arrived after a message numbered higher. */
  outOfOrder: number;
  /** Arrived and never sent, damaged, or a redelivery carrying another message than its id did. */
  unexpected: number;
  /** Device → application: arrived again under the same id (the crash window; not a duplicate). */
  redelivered: number;
}

export const noDeliveries = (): DeliveryCounts => ({
  sent: 0,
  received: 0,
  missing: 0,
  duplicated: 0,
  outOfOrder: 0,
  unexpected: 0,
  redelivered: 0,
});

export function addCounts(into: DeliveryCounts, more: DeliveryCounts): DeliveryCounts {
  for (const key of Object.keys(into) as (keyof DeliveryCounts)[]) into[key] += more[key];
  return into;
}

/** One application arrival, as GatewayProcess records it. */
export interface AppArrival {
  readonly id: string;
  readonly deviceId: string;
  readonly data: unknown;
}

/**
 * Missing, duplicated, out of order and unexpected, for arrivals `order` of messages `expected`;
 * `allowed` may arrive (once) without being expected, and is counted apart.
 */
function compare(order: readonly number[], expected: readonly number[], allowed: ReadonlySet<number>) {
  const wanted = new Set(expected);
  const seen = new Set<number>();
  let duplicated = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let highest = 0;
  for (const n of order) {
    if (!wanted.has(n) && !allowed.has(n)) {
      unexpected++;
      continue;
    }
    if (seen.has(n)) {
      duplicated++;
      continue;
    }
    seen.add(n);
    if (n < highest) outOfOrder++;
    highest = Math.max(highest, n);
  }
  const received = expected.filter((n) => seen.has(n)).length;
  return {
    received,
    missing: expected.length - received,
    duplicated,
    outOfOrder,
    unexpected,
    allowedArrived: seen.size - received,
  };
}

/**
 * Device → application for one device: `sent` in order against the application's arrivals (in arrival
 * order, any devices). `order` is the first arrival of each id: equal to `sent` when all is well.
 */
export function auditDeviceToServer(
  deviceId: string,
  sent: readonly number[],
  seen: readonly AppArrival[],
): DeliveryCounts & { order: number[] } {
  const firstById = new Map<string, number>();
  const order: number[] = [];
  let redelivered = 0;
  let mismatched = 0;
  for (const m of seen) {
    if (m.deviceId !== deviceId) continue;
    const n = numberOf(m.data);
    const prev = firstById.get(m.id);
    if (prev === undefined) {
      firstById.set(m.id, n);
      order.push(n);
    } else if (prev === n) redelivered++;
    else mismatched++;
  }
  const { allowedArrived: _, ...c } = compare(order, sent, new Set());
  return { sent: sent.length, ...c, unexpected: c.unexpected + mismatched, redelivered, order };
}

/**
 * Application → device for one device: what its application received, in order, against the sends
 * accepted for it and those of unknown outcome (`unknownDelivered`: how many of those arrived).
 * `core` is what arrived of the accepted ones, in arrival order: equal to `accepted` when all is well.
 */
export function auditServerToDevice(
  received: readonly number[],
  accepted: readonly number[],
  unknown: readonly number[],
): DeliveryCounts & { unknownDelivered: number; core: number[] } {
  const allowed = new Set(unknown);
  const { allowedArrived, ...c } = compare(received, accepted, allowed);
  const core = received.filter((n) => !allowed.has(n));
  return { sent: accepted.length, ...c, redelivered: 0, unknownDelivered: allowedArrived, core };
}

/**
 * Wait until every device's messages are acknowledged and every accepted application message has
 * arrived, then a little longer for application arrivals still on their way over IPC. False when
 * that did not happen within `timeoutMs` (the audit then shows what is missing).
 */
export async function settle(
  fleet: readonly SimDevice[],
  traffic: Traffic,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const done = () =>
    fleet.every(
      (d) => d.client.stats().unacked === 0 && d.received.length >= traffic.accepted.get(d.id)!.length,
    );
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  await sleep(300);
  return true;
}

/** Both directions of a whole fleet, summed, from every application arrival of every instance. */
export function auditFleet(fleet: readonly SimDevice[], traffic: Traffic, arrivals: readonly AppMessage[]) {
  const byDevice = new Map<string, AppMessage[]>();
  for (const m of [...arrivals].sort((x, y) => x.arrival - y.arrival)) {
    const mine = byDevice.get(m.deviceId);
    if (mine) mine.push(m);
    else byDevice.set(m.deviceId, [m]);
  }
  const deviceToApp = noDeliveries();
  const appToDevice = noDeliveries();
  let unknownDelivered = 0;
  for (const d of fleet) {
    addCounts(deviceToApp, auditDeviceToServer(d.id, d.sent, byDevice.get(d.id) ?? []));
    const toDevice = auditServerToDevice(d.received, traffic.accepted.get(d.id)!, traffic.unknown.get(d.id)!);
    addCounts(appToDevice, toDevice);
    unknownDelivered += toDevice.unknownDelivered;
  }
  const unknownOutcome = [...traffic.unknown.values()].reduce((s, v) => s + v.length, 0);
  return {
    deviceToApp,
    appToDevice: {
      ...appToDevice,
      unknownOutcome,
      unknownDelivered,
      refused: Object.fromEntries(traffic.refused),
    },
    appArrivals: arrivals.length,
  };
}
