/**
 * Two-way streams over a fleet: every device sends its next numbered message every `intervalMs`, and
 * the application sends one to every device as often, through whichever gateway instance `via` names
 * for that device at that moment. What the application's sends came to is kept per device: accepted
 * (the gateway answered with a seq: it must arrive exactly once), unknown (no answer, e.g. the instance
 * died mid-request: it may arrive, at most once) and refused (never accepted: sent again).
 */

import { sleep } from '../lab/wait.js';
import { deviceSend, type SimDevice } from './fleet.js';
import { isBinaryTurn, numberedMessage } from './numbering.js';

export interface Sender {
  send(deviceId: string, value: unknown): Promise<{ seq?: number; error?: string }>;
}

export interface TrafficOptions {
  /** Each device sends, and is sent, one message this often. */
  readonly intervalMs: number;
  /** Every `binaryEvery`-th message of each stream is binary (0, the default: all text). */
  readonly binaryEvery?: number;
  /** Send errors whose outcome is unknown (default: `instance_stopped`). */
  readonly unknownOutcome?: readonly string[];
  /** Send errors that refuse the message, so it is sent again next time (default: `buffer_full`). */
  readonly retryOn?: readonly string[];
  /** Called after the SDK accepted a device message (its id is `device.sent.length`). */
  readonly onDeviceSend?: (device: SimDevice) => void;
}

export interface Traffic {
  /** Per device: `n` of every gateway message whose send was accepted. */
  readonly accepted: Map<string, number[]>;
  /** Per device: `n` of sends whose outcome is unknown. */
  readonly unknown: Map<string, number[]>;
  /** Refused sends (each sent again), by error code. */
  readonly refused: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Stream both ways until `stop()`. A send error that is neither unknown nor retried ends the stream
 * with an error, which `stop()` rethrows: an unexpected refusal is a finding, not noise.
 */
export function startTraffic(
  fleet: SimDevice[],
  via: (device: SimDevice) => Sender,
  options: number | TrafficOptions,
): Traffic {
  const o: TrafficOptions = typeof options === 'number' ? { intervalMs: options } : options;
  const { intervalMs } = o;
  const binaryEvery = o.binaryEvery ?? 0;
  const unknownOutcome = new Set(o.unknownOutcome ?? ['instance_stopped']);
  const retryOn = new Set(o.retryOn ?? ['buffer_full']);
  const accepted = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
  const unknown = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
  const refused = new Map<string, number>();
  let running = true;
  let failure: unknown;
  const loops = fleet
    .flatMap((d, i) => [
      (async () => {
        await sleep((i * intervalMs) / fleet.length);
        for (let n = 1; running; n++) {
          const r = await via(d).send(d.id, numberedMessage(d.id, n, isBinaryTurn(n, binaryEvery)));
          if (r.seq !== undefined) accepted.get(d.id)!.push(n);
          else if (unknownOutcome.has(r.error!)) unknown.get(d.id)!.push(n);
          else if (retryOn.has(r.error!)) {
            refused.set(r.error!, (refused.get(r.error!) ?? 0) + 1);
            n--;
          } else throw new Error(`send to ${d.id} failed: ${r.error}`);
          await sleep(intervalMs);
        }
      })(),
      (async () => {
        await sleep((i * intervalMs) / fleet.length);
        while (running) {
          if (deviceSend(d, isBinaryTurn(d.sent.length + 1, binaryEvery))) o.onDeviceSend?.(d);
          await sleep(intervalMs);
        }
      })(),
    ])
    .map((loop) =>
      loop.catch((err: unknown) => {
        failure ??= err;
      }),
    );
  return {
    accepted,
    unknown,
    refused,
    async stop() {
      running = false;
      await Promise.all(loops);
      if (failure !== undefined) throw failure;
    },
  };
}
