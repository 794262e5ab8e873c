/**
 * The reliable-channel core: sequence numbers, cumulative acks, replay and duplicate suppression for
 * one direction of one session. It is sans-I/O: it never touches a socket, a timer, a clock or a store.
 * The gateway and the device SDK both drive it with events (a message accepted, made durable, written,
 * acked; a frame received, processed) and act on what it returns.
 *
 * Delivery contract it implements (docs/PROTOCOL.md):
 * - a sender numbers messages 1, 2, 3… and keeps each until a cumulative ack covers it;
 * - a message is written to the transport only once it is durable (write-through), and in order;
 * - at most `maxUnacked` messages are held; the next `accept` is refused with `buffer_full` and
 *   nothing already accepted is ever evicted;
 * - after a reconnect the sender rewinds to the peer's ack and writes everything above it again;
 * - a receiver hands each sequence number on exactly once, in order, drops duplicates, and refuses a
 *   gap (on an ordered transport a gap means the peer broke the protocol).
 */
import { DEFAULT_MAX_UNACKED, MAX_SEQ } from './constants.js';

export interface Entry<P> {
  readonly seq: number;
  readonly payload: P;
}

export type AcceptResult =
  | { ok: true; seq: number }
  | { ok: false; code: 'buffer_full' | 'sequence_exhausted' };
export type AckResult = { ok: true; released: number } | { ok: false; code: 'ack_out_of_range' };
export type ReceiveVerdict = 'accept' | 'duplicate' | 'gap';

export interface SenderState<P> {
  /** Highest sequence number the peer acknowledged. */
  acked: number;
  /** Messages above `acked`, ascending and contiguous; all of them durable. */
  unacked: readonly Entry<P>[];
}

export interface SenderOptions {
  maxUnacked?: number;
}

export class ReliableSender<P> {
  readonly maxUnacked: number;
  #entries: Entry<P>[];
  #acked: number;
  /** Highest seq known durable; entries at or below may be written. */
  #durable: number;
  /** Highest seq handed to the current transport. */
  #written: number;
  /** Highest seq ever handed to any transport: an ack above it is out of range. */
  #writtenEver: number;

  constructor(options: SenderOptions = {}, state?: SenderState<P>) {
    this.maxUnacked = options.maxUnacked ?? DEFAULT_MAX_UNACKED;
    if (!Number.isInteger(this.maxUnacked) || this.maxUnacked < 1)
      throw new RangeError('maxUnacked must be >= 1');
    this.#acked = state?.acked ?? 0;
    this.#entries = state ? [...state.unacked] : [];
    for (let i = 0; i < this.#entries.length; i++) {
      if (this.#entries[i]!.seq !== this.#acked + 1 + i)
        throw new RangeError('unacked entries must be contiguous');
    }
    this.#durable = this.lastSeq;
    // Restored entries may have reached the peer before (that is why they are kept): acks up to lastSeq are legal.
    this.#writtenEver = this.lastSeq;
    this.#written = this.#acked;
  }

  /** Highest sequence number assigned so far. */
  get lastSeq(): number {
    return this.#acked + this.#entries.length;
  }
  get acked(): number {
    return this.#acked;
  }
  get written(): number {
    return this.#written;
  }
  get durable(): number {
    return this.#durable;
  }
  /** Number of messages held (accepted and not yet acknowledged). */
  get size(): number {
    return this.#entries.length;
  }
  get isFull(): boolean {
    return this.#entries.length >= this.maxUnacked;
  }
  /** Snapshot of the messages held, for persisting or inspection: a copy that later acks leave alone. */
  unacked(): readonly Entry<P>[] {
    return this.#entries.slice();
  }

  /** Take a message in: assign the next sequence number, or refuse when the buffer is full. */
  accept(payload: P): AcceptResult {
    if (this.#entries.length >= this.maxUnacked) return { ok: false, code: 'buffer_full' };
    const seq = this.lastSeq + 1;
    if (seq > MAX_SEQ) return { ok: false, code: 'sequence_exhausted' };
    this.#entries.push({ seq, payload });
    return { ok: true, seq };
  }

  /** The message with sequence `seq` is durable (stored); it and everything below may now be written. */
  confirm(seq: number): void {
    if (seq > this.lastSeq) throw new RangeError(`confirm(${seq}) beyond last sequence ${this.lastSeq}`);
    if (seq > this.#durable) this.#durable = seq;
  }

  /**
   * Durable messages not yet written on the current transport, in order; marks them written. The
   * caller writes each with the receiver's current ack piggybacked.
   */
  takeWritable(): Entry<P>[] {
    if (this.#written >= this.#durable) return [];
    const from = this.#written + 1 - (this.#acked + 1);
    const to = this.#durable - this.#acked;
    const out = this.#entries.slice(Math.max(0, from), to);
    this.#written = this.#durable;
    if (this.#written > this.#writtenEver) this.#writtenEver = this.#written;
    return out;
  }

  /** A cumulative ack arrived. Acks below the current one are stale and harmless. */
  onAck(ack: number): AckResult {
    if (ack > this.#writtenEver) return { ok: false, code: 'ack_out_of_range' };
    if (ack <= this.#acked) return { ok: true, released: 0 };
    const released = ack - this.#acked;
    this.#entries.splice(0, released);
    this.#acked = ack;
    if (this.#written < ack) this.#written = ack;
    return { ok: true, released };
  }

  /**
   * A new transport is up and the peer said it holds everything up to `peerAck`: apply that ack and
   * rewind, so the next `takeWritable` replays every durable message above it.
   */
  resume(peerAck: number): AckResult {
    const r = this.onAck(peerAck);
    if (r.ok) this.#written = this.#acked;
    return r;
  }

  /** The transport is gone: nothing is written on it any more (entries stay held for replay). */
  detach(): void {
    this.#written = this.#acked;
  }
}

export interface ReceiverState {
  /** Highest sequence number fully processed (the ack the receiver may send). */
  processed: number;
}

/**
 * Inbound side. `received` runs ahead of `processed` while messages wait for an asynchronous handler;
 * the ack only ever covers processed messages, so a message is acknowledged after its handler resolved.
 */
export class ReliableReceiver {
  #received: number;
  #processed: number;
  #ackSent: number;

  constructor(state?: ReceiverState) {
    this.#processed = state?.processed ?? 0;
    this.#received = this.#processed;
    this.#ackSent = this.#processed;
  }

  get received(): number {
    return this.#received;
  }
  get processed(): number {
    return this.#processed;
  }
  /** The ack value to send (cumulative: every sequence up to it is processed). */
  get ack(): number {
    return this.#processed;
  }
  /** Whether processed messages exist that the peer has not been told about. */
  get ackDue(): boolean {
    return this.#processed > this.#ackSent;
  }

  /** A data frame arrived: hand it on (`accept`), drop it (`duplicate`) or refuse it (`gap`). */
  onData(seq: number): ReceiveVerdict {
    if (seq <= this.#received) return 'duplicate';
    if (seq !== this.#received + 1) return 'gap';
    this.#received = seq;
    return 'accept';
  }

  /** The handler for `seq` resolved. Completions come in order; anything else is a caller bug. */
  complete(seq: number): void {
    if (seq !== this.#processed + 1 || seq > this.#received) {
      throw new RangeError(
        `complete(${seq}) out of order: processed ${this.#processed}, received ${this.#received}`,
      );
    }
    this.#processed = seq;
  }

  /** Record that the current ack went out (standalone or piggybacked); returns it. */
  takeAck(): number {
    this.#ackSent = this.#processed;
    return this.#processed;
  }

  /**
   * A new transport is up. Messages received but not yet processed stay queued (they will be
   * processed and acked); the peer replays everything above the ack we announce, and those at or below
   * `received` are dropped as duplicates.
   */
  resume(): number {
    return this.takeAck();
  }
}
