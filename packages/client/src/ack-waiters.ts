/**
 * Promises that wait for a cumulative ack to cover a message. Waiters are kept sorted by the id they
 * wait for, so releasing everything up to an ack only ever looks at the front of the list.
 */

interface Waiter {
  readonly id: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class AckWaiters {
  #waiters: Waiter[] = [];

  get size(): number {
    return this.#waiters.length;
  }

  /** A promise that resolves once `release(n)` is called with `n >= id`. */
  add(id: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { id, resolve, reject };
      let lo = 0;
      let hi = this.#waiters.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.#waiters[mid]!.id <= id) lo = mid + 1;
        else hi = mid;
      }
      this.#waiters.splice(lo, 0, waiter);
    });
  }

  /** Resolve every waiter for an id up to and including `upTo`. */
  release(upTo: number): void {
    let n = 0;
    while (n < this.#waiters.length && this.#waiters[n]!.id <= upTo) n++;
    if (n === 0) return;
    for (const waiter of this.#waiters.splice(0, n)) waiter.resolve();
  }

  rejectAll(error: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}
