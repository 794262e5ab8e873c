/**
 * When to send a standalone ack for server→device messages. Acks ride on outgoing data for free; when
 * there is none, one ack covers a batch: it goes out `delayMs` after the first unacknowledged delivery,
 * or at once when `batchSize` deliveries are waiting. A duplicate means the server did not hear our last
 * ack, so it forces one out even though nothing new was delivered. This only decides *when*; the value
 * always comes from the `ReliableReceiver`.
 */

export class AckBatcher {
  readonly #delayMs: number;
  readonly #batchSize: number;
  readonly #sendAck: () => void;
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `sendAck` must write the current cumulative ack and then call `sent()`. */
  constructor(delayMs: number, batchSize: number, sendAck: () => void) {
    this.#delayMs = delayMs;
    this.#batchSize = batchSize;
    this.#sendAck = sendAck;
  }

  /** Deliveries since the last ack went out. */
  get pending(): number {
    return this.#pending;
  }

  /** One more message was delivered to the application. */
  delivered(): void {
    this.#pending++;
    if (this.#pending >= this.#batchSize) this.#fire();
    else this.#arm();
  }

  /** A duplicate arrived: the peer needs to hear the ack again. */
  duplicate(): void {
    this.#arm();
  }

  /** The current ack went out (standalone or piggybacked on data), or can no longer go out. */
  sent(): void {
    this.#pending = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#fire();
    }, this.#delayMs);
  }

  #fire(): void {
    this.sent();
    this.#sendAck();
  }
}
