/**
 * The sessions held live on this instance, by device, and a per-device lock so that two handshakes
 * of one device (a reconnect racing a half-dead connection) run one after the other. While a device's
 * handshake runs, `send` to that device waits for it, so no message lands in a session being replaced.
 */
import type { Session } from './session.js';

export class SessionRegistry {
  readonly #live = new Map<string, Session>();
  readonly #locks = new Map<string, Promise<void>>();

  get size(): number {
    return this.#live.size;
  }

  get(deviceId: string): Session | undefined {
    return this.#live.get(deviceId);
  }

  set(session: Session): void {
    this.#live.set(session.deviceId, session);
  }

  /** Forget `session` if it is still the device's current one. */
  forget(session: Session): void {
    if (this.#live.get(session.deviceId) === session) this.#live.delete(session.deviceId);
  }

  values(): IterableIterator<Session> {
    return this.#live.values();
  }

  /** The running handshake of a device, if any. */
  busy(deviceId: string): Promise<void> | undefined {
    return this.#locks.get(deviceId);
  }

  /** Run `fn` once every earlier handshake of the device finished. */
  async withDeviceLock<T>(deviceId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(deviceId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const chained = before.then(() => mine);
    this.#locks.set(deviceId, chained);
    try {
      await before;
      return await fn();
    } finally {
      release();
      if (this.#locks.get(deviceId) === chained) this.#locks.delete(deviceId);
    }
  }
}
