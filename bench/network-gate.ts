/**
 * One device's network, under the resume suite's control, for the device SDK and for socket.io-client
 * alike: every connection the client dials goes through the gate, which can cut the live one (its TCP
 * socket destroyed, no close frame: the client and the server see the connection vanish, as when Wi-Fi
 * drops) and keep the device offline (each dial fails at once, as with no route, and the client backs
 * off and retries) until it is restored. It also notes when the client dialled, so a resume is timed
 * from the attempt that worked, not from the client's backoff.
 */
import type { WebSocketConstructor } from '@zerodrop/client';
import { NodeWebSocket } from 'socket.io-client';
import { type ClientOptions, WebSocket } from 'ws';
import { sharedClockMs } from './clock.js';

/** A dial while the device is offline. Expected during the resume workload, so not counted as an error. */
export class OfflineError extends Error {
  constructor() {
    super('the device is offline (bench network gate)');
    this.name = 'OfflineError';
  }
}

/** The gate's refusal, as the SDK reports it or wrapped in socket.io-client's TransportError. */
export function isOffline(err: unknown): boolean {
  return (
    err instanceof OfflineError ||
    (err as { description?: unknown } | null)?.description instanceof OfflineError
  );
}

interface Terminable {
  terminate(): void;
}

export class NetworkGate {
  #online = true;
  #socket: Terminable | undefined;
  /** Connection attempts so far, the refused ones included. */
  dials = 0;
  /** When the last attempt that got through was dialled (shared clock). */
  lastDialAt = Number.NaN;

  get online(): boolean {
    return this.#online;
  }

  /** Destroy the live connection's socket and stay offline; false when there was none. */
  cut(): boolean {
    this.#online = false;
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.terminate();
    return socket !== undefined;
  }

  restore(): void {
    this.#online = true;
  }

  /** A connection attempt: refused while offline, timed otherwise. */
  dial(): void {
    this.dials++;
    if (!this.#online) throw new OfflineError();
    this.lastDialAt = sharedClockMs();
  }

  track(socket: Terminable): void {
    this.#socket = socket;
  }

  /** A `ws` WebSocket class for the device SDK's `WebSocket` option. */
  webSocketClass(): WebSocketConstructor {
    const gate = this;
    return class GatedWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[], options?: ClientOptions) {
        gate.dial();
        super(url, protocols, options);
        gate.track(this);
      }
    };
  }

  /**
   * A WebSocket transport for socket.io-client's `transports` option (engine.io's Node transport). A
   * refused dial fails asynchronously: engine.io attaches its listeners to a transport only after
   * opening it, so an error raised while opening would go unheard and the client would wait for its
   * 20 s connect timeout.
   */
  transportClass(): typeof NodeWebSocket {
    const gate = this;
    return class GatedTransport extends NodeWebSocket {
      override doOpen(): this {
        try {
          gate.dial();
        } catch (err) {
          setImmediate(() => this.onError('offline', err));
          return this;
        }
        return super.doOpen();
      }

      override createSocket(
        uri: string,
        protocols: string | string[] | undefined,
        opts: Record<string, unknown>,
      ): Terminable {
        const socket: Terminable = super.createSocket(uri, protocols, opts);
        gate.track(socket);
        return socket;
      }
    };
  }
}
