/**
 * Shared pieces of the end-to-end tests: a fleet of SDK devices that number what they send and check
 * what they receive, and the bookkeeping that proves nothing was lost or duplicated.
 */
import assert from 'node:assert/strict';
import { createClient, isZerodropError, type ZerodropClient } from '@zerodrop/client';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SimDevice {
  readonly id: string;
  readonly client: ZerodropClient;
  /** `n` of every message the device handed to its SDK (accepted). */
  readonly sent: number[];
  /** `n` of every gateway message the device's application received, in arrival order. */
  readonly received: number[];
}

export function startFleet(url: string, count: number, prefix: string): SimDevice[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}-${i}`;
    const client = createClient({ url, deviceId: id, backoff: { initialMs: 20, maxMs: 400 } });
    const device: SimDevice = { id, client, sent: [], received: [] };
    client.on('message', (value) => void device.received.push((value as { n: number }).n));
    client.on('error', () => {});
    return device;
  });
}

/** Send the device's next numbered message; false when its queue is full (backpressure). */
export function deviceSend(d: SimDevice): boolean {
  const n = d.sent.length + 1;
  try {
    d.client.send({ d: d.id, n });
    d.sent.push(n);
    return true;
  } catch (err) {
    if (isZerodropError(err) && err.code === 'buffer_full') return false;
    throw err;
  }
}

/**
 * What the application saw from one device: the `n`s in arrival order, and how many arrived again
 * with the same message id (an instance died between the handler resolving and the store recording it).
 */
export function checkDeviceToServer(
  deviceId: string,
  sent: number[],
  seen: { id: string; deviceId: string; data: unknown }[],
): { redelivered: number } {
  const mine = seen.filter((m) => m.deviceId === deviceId);
  const firstById = new Map<string, number>();
  const order: number[] = [];
  let redelivered = 0;
  for (const m of mine) {
    const n = (m.data as { n: number }).n;
    const prev = firstById.get(m.id);
    if (prev !== undefined) {
      assert.equal(prev, n, `${deviceId}: a redelivery under id ${m.id} carries the same message`);
      redelivered++;
      continue;
    }
    firstById.set(m.id, n);
    order.push(n);
  }
  assert.deepEqual(
    order,
    sent,
    `${deviceId}: every device message reached the application, once per id, in order`,
  );
  return { redelivered };
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
  const allowed = new Set(unknown);
  const core = received.filter((n) => !allowed.has(n));
  assert.deepEqual(core, accepted, `${deviceId}: every accepted message arrived exactly once, in order`);
  assert.equal(new Set(received).size, received.length, `${deviceId}: nothing arrived twice`);
}
