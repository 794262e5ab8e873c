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

export interface Sender {
  send(deviceId: string, value: unknown): Promise<{ seq?: number; error?: string }>;
}

export interface Traffic {
  /** Per device: `n` of every gateway message whose send was accepted. */
  readonly accepted: Map<string, number[]>;
  /** Per device: `n` of sends whose outcome is unknown (their instance died mid-request). */
  readonly unknown: Map<string, number[]>;
  stop(): Promise<void>;
}

/**
 * Stream both ways: every device sends a numbered message every `intervalMs`, and the gateway sends
 * one to every device as often, through whichever instance `via()` names at that moment.
 */
export function startTraffic(fleet: SimDevice[], via: () => Sender, intervalMs: number): Traffic {
  const accepted = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
  const unknown = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
  let running = true;
  const loops = fleet.flatMap((d, i) => [
    (async () => {
      await sleep((i * intervalMs) / fleet.length);
      for (let n = 1; running; n++) {
        const r = await via().send(d.id, { n });
        if (r.seq !== undefined) accepted.get(d.id)!.push(n);
        else if (r.error === 'instance_stopped') unknown.get(d.id)!.push(n);
        else if (r.error === 'buffer_full') n--;
        else throw new Error(`send to ${d.id} failed: ${r.error}`);
        await sleep(intervalMs);
      }
    })(),
    (async () => {
      await sleep((i * intervalMs) / fleet.length);
      while (running) {
        deviceSend(d);
        await sleep(intervalMs);
      }
    })(),
  ]);
  return {
    accepted,
    unknown,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Wait until every message is delivered and acknowledged, then check both directions for every device. */
export async function verifyDelivery(
  fleet: SimDevice[],
  traffic: Traffic,
  seenByApp: () => { arrival: number; id: string; deviceId: string; data: unknown }[],
  options: { allowRedelivery: boolean },
): Promise<{ deviceToServer: number; serverToDevice: number; redelivered: number }> {
  const deadline = Date.now() + 60_000;
  while (
    !fleet.every(
      (d) => d.client.stats().unacked === 0 && d.received.length >= traffic.accepted.get(d.id)!.length,
    )
  ) {
    if (Date.now() > deadline)
      throw new Error('timed out waiting for every message to be delivered and acknowledged');
    await sleep(25);
  }
  await sleep(300);
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
