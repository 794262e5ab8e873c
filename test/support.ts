/**
 * Shared pieces of the end-to-end tests: a fleet of SDK devices that number what they send and check
 * what they receive, and the bookkeeping that proves nothing was lost or duplicated. The fleet, the
 * traffic and the counting are the drills' own (packages/cli/src/drill); here they become assertions.
 */
import assert from 'node:assert/strict';
import {
  type AppArrival,
  auditDeviceToServer,
  auditServerToDevice,
  settle,
} from '../packages/cli/src/drill/audit.js';
import { type SimDevice, startFleet as startDrillFleet } from '../packages/cli/src/drill/fleet.js';
import type { Traffic } from '../packages/cli/src/drill/traffic.js';

export { deviceSend, type SimDevice } from '../packages/cli/src/drill/fleet.js';
export { type Sender, startTraffic, type Traffic } from '../packages/cli/src/drill/traffic.js';
export { sleep } from '../packages/cli/src/lab/wait.js';

/** A fleet that reconnects quickly: tests cut connections often and wait for every device. */
export function startFleet(url: string, count: number, prefix: string): SimDevice[] {
  return startDrillFleet(url, count, prefix, { backoff: { initialMs: 20, maxMs: 400 } });
}

/**
 * What the application saw from one device: the `n`s in arrival order, and how many arrived again
 * with the same message id (an instance died between the handler resolving and the store recording it).
 */
export function checkDeviceToServer(
  deviceId: string,
  sent: number[],
  seen: readonly AppArrival[],
): { redelivered: number } {
  const audit = auditDeviceToServer(deviceId, sent, seen);
  assert.equal(
    audit.unexpected,
    0,
    `${deviceId}: nothing arrived that was not sent, and a redelivery carries its id's message`,
  );
  assert.deepEqual(
    audit.order,
    sent,
    `${deviceId}: every device message reached the application, once per id, in order`,
  );
  return { redelivered: audit.redelivered };
}

/**
 * What one device received from the gateway: every accepted message exactly once, in order; a
 * message whose send outcome is unknown (its instance died mid-request) at most once.
 */
export function checkServerToDevice(
  deviceId: string,
  received: number[],
  accepted: number[],
  unknown: number[],
): void {
  const audit = auditServerToDevice(received, accepted, unknown);
  assert.deepEqual(
    audit.core,
    accepted,
    `${deviceId}: every accepted message arrived exactly once, in order`,
  );
  assert.equal(audit.duplicated, 0, `${deviceId}: nothing arrived twice`);
}

/** Wait until every message is delivered and acknowledged, then check both directions for every device. */
export async function verifyDelivery(
  fleet: SimDevice[],
  traffic: Traffic,
  seenByApp: () => (AppArrival & { arrival: number })[],
  options: { allowRedelivery: boolean },
): Promise<{ deviceToServer: number; serverToDevice: number; redelivered: number }> {
  if (!(await settle(fleet, traffic, 60_000)))
    throw new Error('timed out waiting for every message to be delivered and acknowledged');
  const seen = seenByApp().sort((x, y) => x.arrival - y.arrival);
  let redelivered = 0;
  for (const d of fleet) {
    redelivered += checkDeviceToServer(d.id, d.sent, seen).redelivered;
    checkServerToDevice(d.id, d.received, traffic.accepted.get(d.id)!, traffic.unknown.get(d.id)!);
  }
  if (!options.allowRedelivery)
    assert.equal(redelivered, 0, 'no instance died, so nothing was handed over twice');
  return {
    deviceToServer: fleet.reduce((s, d) => s + d.sent.length, 0),
    serverToDevice: [...traffic.accepted.values()].reduce((s, v) => s + v.length, 0),
    redelivered,
  };
}
