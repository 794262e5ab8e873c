/**
 * A fleet of simulated devices on the real device SDK (`@zerodrop/client`). Each device numbers what
 * it sends (`sent`) and records the number of every message its application receives (`received`),
 * in arrival order; the audit compares the two ends. With a fleet secret, every connection attempt
 * authenticates with a token minted for it (`mintDeviceToken`), as a device holding the secret does.
 */
import {
  type BackoffOptions,
  createClient,
  isZerodropError,
  mintDeviceToken,
  type ZerodropClient,
} from '@zerodrop/client';
import { numberedMessage, numberOf } from './numbering.js';

export interface SimDevice {
  readonly id: string;
  readonly client: ZerodropClient;
  /** `n` of every message the device handed to its SDK (accepted). */
  readonly sent: number[];
  /** `n` of every gateway message the device's application received, in arrival order. */
  readonly received: number[];
}

export interface FleetOptions {
  /** Reconnect backoff; default the SDK's own (100 ms doubling to 10 s, full jitter). */
  readonly backoff?: BackoffOptions;
  /** The fleet secret (the gateway's ZERODROP_DEVICE_SECRETS); unset: no device token. */
  readonly secret?: string;
  /** Connect at once (default); false: the caller calls `client.connect()`, e.g. in a ramp. */
  readonly autoConnect?: boolean;
}

export function startFleet(
  url: string,
  count: number,
  prefix: string,
  options: FleetOptions = {},
): SimDevice[] {
  const { secret } = options;
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}-${i}`;
    const client = createClient({
      url,
      deviceId: id,
      ...(options.backoff && { backoff: options.backoff }),
      ...(secret !== undefined && { token: () => mintDeviceToken(secret, id) }),
      autoConnect: options.autoConnect ?? true,
    });
    const device: SimDevice = { id, client, sent: [], received: [] };
    client.on('message', (value) => void device.received.push(numberOf(value)));
    client.on('error', () => {});
    return device;
  });
}

/** Send the device's next numbered message; false when its queue is full (backpressure). */
export function deviceSend(d: SimDevice, binary = false): boolean {
  const n = d.sent.length + 1;
  try {
    d.client.send(numberedMessage(d.id, n, binary));
    d.sent.push(n);
    return true;
  } catch (err) {
    if (isZerodropError(err) && err.code === 'buffer_full') return false;
    throw err;
  }
}
