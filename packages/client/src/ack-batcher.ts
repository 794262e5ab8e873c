/**
 * When to send a standalone ack for server→device messages. Acks ride on outgoing data for free; when
 * there is none, one ack covers a batch: it goes out at most `delayMs` after the first unacknowledged
 * delivery, or at once when `batchSize` deliveries are waiting. A duplicate means the server did not
 * hear our last ack, so it forces one out even though nothing new was delivered. This only decides
 * *when*; the value always comes from the `ReliableReceiver`.
 *
 * The timer is armed once and left running when an ack rides on data: when it fires it sends only if
 * something is still unacknowledged. A device that echoes every message therefore costs one timer
 * per `delayMs`, not a timer set and cleared per message.
 */

export class AckBatcher {
  readonly #delayMs: number;
  readonly #batchSize: number;
  readonly #sendAck: () => void;
  #pending = 0;
  /** A duplicate asked for an ack that nothing new would trigger. */
  #forced = false;
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
    this.#forced = true;
    this.#arm();
  }

  /** The current ack went out, standalone or piggybacked on data. */
  sent(): void {
    this.#pending = 0;
    this.#forced = false;
  }

  /** No ack can go out any more (the connection is gone, the session was replaced): stop the timer. */
  stop(): void {
    this.sent();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#pending > 0 || this.#forced) this.#fire();
    }, this.#delayMs);
  }

  #fire(): void {
    this.sent();
    this.#sendAck();
  }
}
