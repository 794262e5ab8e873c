/**
 * A tiny typed event emitter the SDK owns, so browsers never need Node's `events` module. Listeners
 * run synchronously in registration order; an exception thrown by one listener does not stop the
 * others and is handed to `onListenerError` instead of unwinding into the socket callback that caused
 * the event (which would skip the SDK's own bookkeeping after it).
 */

/** Maps each event name to the tuple of arguments its listeners receive. */
export type EventMap<E> = { [K in keyof E]: unknown[] };

export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<E extends EventMap<E>> {
  readonly #listeners: { [K in keyof E]?: Set<Listener<E[K]>> } = {};
  readonly #onListenerError: (error: unknown, event: keyof E) => void;

  constructor(onListenerError: (error: unknown, event: keyof E) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribe; returns a function that unsubscribes. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners[event];
    if (set === undefined) {
      set = new Set();
      this.#listeners[event] = set;
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Subscribe for the next emission only; returns a function that unsubscribes. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (...args) => {
      off();
      listener(...args);
    });
    return off;
  }

  /** Remove a listener added with `on` (a `once` listener is removed by the function `once` returned). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners[event]?.delete(listener);
  }

  listenerCount(event: keyof E): number {
    return this.#listeners[event]?.size ?? 0;
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.#listeners[event];
    if (set === undefined || set.size === 0) return;
    // A copy, so listeners that subscribe or unsubscribe while we iterate do not disturb this emission.
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}
