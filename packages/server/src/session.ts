/**
 * One device session held live on this instance: the reliable channel in both directions (from the
 * protocol core), the write-through to the resume store, and the in-order hand-off of device messages
 * to the application. It outlives its connection: a connection attaches, detaches, and another one
 * (the same device, resuming) attaches again.
 *
 * Order of effects, which is the delivery contract:
 * - server→device: accept (bounded) → store append → confirm → written to the socket; `send` resolves
 *   once the append did, so an accepted message is in the store before it is on the wire.
 * - device→server: received → handler → processed mark in the store → ack to the device. The next
 *   message goes to the handler as soon as the previous one's handler resolved (in order, one at a
 *   time); the processed marks are written behind it, coalesced, and the ack to the device never
 *   covers a message whose mark is not in the store yet.
 * - The device's acks and the processed marks are saved together, one write in flight per session
 *   at a time, and ride along with the next append when one goes out in the same turn: a burst, or
 *   an echo, costs one store write, not one per message and direction.
 */
import {
  createError,
  type ErrorSpec,
  Errors,
  type Payload,
  ReliableReceiver,
  ReliableSender,
  type ZerodropError,
} from '@zerodrop/protocol';
import type { DeadLetter, GatewayApp } from './app.js';
import type { Logger } from './logger.js';
import { DEVICE_TO_SERVER, type GatewayMetrics, SERVER_TO_DEVICE } from './metrics.js';
import type {
  AppendOutcome,
  ResumeStore,
  SessionProgress,
  SessionRecord,
  StoredMessage,
} from './store/resume-store.js';

/** What a session needs from the connection it is attached to. */
export interface SessionTransport {
  writeData(payload: Payload, seq: number, ack: number): void;
  writeAck(ack: number): void;
  /** The peer broke the protocol: report and close the connection (the session stays). */
  protocolError(error: ErrorSpec, detail: string): void;
  /** Close the connection with a code from the registry. */
  close(error: ErrorSpec): void;
}

export interface SessionContext {
  readonly store: ResumeStore;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly app: GatewayApp;
  readonly maxUnacked: number;
  /** Called once an ended session has no connection and no work left: the registry forgets it. */
  readonly onRetired: (session: Session) => void;
  readonly deadLetter: (letter: DeadLetter) => void;
}

/** While a burst of device messages is handled, an ack goes out at least this often. */
const ACK_EVERY = 32;
/**
 * A device's ack waits this long for a store write to ride along with (the next append, or the next
 * processed mark) before it is written on its own. Nothing waits for it: the device's resume carries
 * its ack, and an append takes the pending ack along before the store checks the buffer bound; a
 * late ack write only means the store holds acknowledged messages a little longer.
 */
const ACK_WRITE_DELAY_MS = 250;

interface Inbound {
  readonly seq: number;
  readonly data: unknown;
  readonly binary: boolean;
}

export function payloadToData(p: Payload): { data: unknown; binary: boolean } {
  return p.kind === 'json' ? { data: JSON.parse(p.json), binary: false } : { data: p.bytes, binary: true };
}

export class Session {
  readonly id: string;
  readonly deviceId: string;
  readonly epoch: string;
  tokenHash: string;
  /** When this instance claimed the session; a write-back after a store reset carries it. */
  readonly claimedAt: number;
  /** Last time a connection attached or detached, or a message moved (ms, wall clock). */
  lastActivity = Date.now();
  readonly sender: ReliableSender<Payload>;
  readonly receiver: ReliableReceiver;
  readonly #ctx: SessionContext;
  #transport: SessionTransport | undefined;
  readonly #inbound: Inbound[] = [];
  #processing = false;
  /** Seqs whose append resolved, waiting for every lower seq to resolve too. */
  #stored: Set<number> | undefined;
  #pendingWrites = 0;
  // Created when first needed: at 15,000 idle sessions an empty array each is memory for nothing.
  #settledWaiters: (() => void)[] | undefined;
  #quietWaiters: (() => void)[] | undefined;
  /** The device's ack as the store has it. */
  #ackPersisted: number;
  /** Highest device→server seq whose handler finished; `receiver.processed` is the one stored. */
  #handled: number;
  /** Last device→server ack written to the device. */
  #ackedInbound = 0;
  /** A device ack waiting for a write to ride along with (see ACK_WRITE_DELAY_MS). */
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** The session's progress write: none, one due at the end of this turn, or one in flight. */
  #progress: 'idle' | 'scheduled' | 'writing' = 'idle';
  /** Set once the session was replaced or its store state was lost: it accepts nothing more. */
  #ended: ZerodropError | undefined;

  constructor(record: SessionRecord, ctx: SessionContext) {
    this.id = record.sessionId;
    this.deviceId = record.deviceId;
    this.epoch = record.epoch;
    this.tokenHash = record.tokenHash;
    this.claimedAt = record.claimedAt;
    this.#ctx = ctx;
    this.sender = new ReliableSender<Payload>(
      { maxUnacked: ctx.maxUnacked },
      { acked: record.outAcked, unacked: record.outbound },
    );
    this.receiver = new ReliableReceiver({ processed: record.inProcessed });
    this.#ackPersisted = record.outAcked;
    this.#handled = record.inProcessed;
  }

  get attached(): boolean {
    return this.#transport !== undefined;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** No connection, no queued device messages, no store write in flight. */
  get idle(): boolean {
    return !this.#transport && !this.#processing && this.#inbound.length === 0 && this.#pendingWrites === 0;
  }

  /**
   * Attach a connection whose device holds everything up to `peerAck`. Returns false when that ack is
   * beyond what was ever sent (the caller answers `fresh`, `epoch_mismatch`).
   */
  attach(transport: SessionTransport, peerAck: number): boolean {
    if (peerAck < this.sender.acked || !this.sender.resume(peerAck).ok) return false;
    this.#saveProgress();
    // A newer connection of the same device wins; the older one is told why it was closed.
    const previous = this.#transport;
    if (previous && previous !== transport) previous.close(Errors.SESSION_REPLACED);
    this.#transport = transport;
    this.receiver.resume();
    this.lastActivity = Date.now();
    return true;
  }

  /** The device used this connection after its welcome: it holds the new token; the old one expires. */
  confirmToken(): void {
    const space = this.tokenHash.indexOf(' ');
    if (space < 0 || this.#ended) return;
    this.tokenHash = this.tokenHash.slice(0, space);
    this.#ctx.store.rotateToken(this.id, this.epoch, this.tokenHash).catch((err: Error) => {
      this.#ctx.log.warn({
        event: 'store_write_failed',
        op: 'confirmToken',
        session: this.id,
        error: err.message,
      });
    });
  }

  /** The whole state, as a store record (for a write-back after the store lost its data). */
  snapshot(owner: string): SessionRecord {
    return {
      sessionId: this.id,
      deviceId: this.deviceId,
      epoch: this.epoch,
      tokenHash: this.tokenHash,
      owner,
      claimedAt: this.claimedAt,
      outAcked: this.sender.acked,
      outbound: this.sender.unacked(),
      inProcessed: this.receiver.processed,
      createdAt: this.claimedAt,
      updatedAt: Date.now(),
    };
  }

  /** The connection is gone; keep state for the next one. */
  detach(transport: SessionTransport): void {
    if (this.#transport !== transport) return;
    this.#transport = undefined;
    this.sender.detach();
    this.lastActivity = Date.now();
    // The resume TTL counts from the disconnect, not from the last periodic refresh.
    this.#ctx.store.touch([this.id]).catch(() => undefined);
    this.#flushAck();
    this.#checkIdle();
  }

  /** No more traffic to ride along with: write a waiting device ack now. */
  #flushAck(): void {
    if (!this.#ackTimer) return;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#saveProgressNow();
  }

  /** Messages the next `flush` replays: everything unacknowledged. */
  get replayCount(): number {
    return this.sender.lastSeq - this.sender.acked;
  }

  /** Accept a server→device message; resolves with its seq once it is in the store. */
  async send(payload: Payload): Promise<number> {
    if (this.#ended) throw this.#ended;
    const accepted = this.sender.accept(payload);
    if (!accepted.ok) {
      this.#ctx.metrics.ws_buffer_full_total.inc();
      throw createError(Errors.BUFFER_FULL, undefined, {
        deviceId: this.deviceId,
        maxUnacked: this.sender.maxUnacked,
      });
    }
    const message: StoredMessage = { seq: accepted.seq, payload };
    this.lastActivity = Date.now();
    this.#pendingWrites++;
    const progress = this.#progress === 'writing' ? undefined : this.#takeProgress();
    // With a progress write in flight, the device's latest ack still rides along: the store checks
    // the buffer bound against its own ack, and without this one it would count messages the device
    // already acknowledged (saving an ack is monotonic, so two in flight are harmless).
    const ackRider =
      !progress && this.sender.acked > this.#ackPersisted ? { acked: this.sender.acked } : undefined;
    let outcome: AppendOutcome;
    try {
      outcome = await this.#ctx.store.append(
        this.id,
        this.epoch,
        message,
        this.sender.maxUnacked,
        progress ?? ackRider,
      );
    } catch (err) {
      // The session ends here: no ack goes out for marks that may not be stored.
      if (progress) this.#progressWritten(progress, err as Error, false);
      throw this.#end(Errors.STORE_UNAVAILABLE, `store write failed: ${(err as Error).message}`);
    } finally {
      this.#pendingWrites--;
      this.#checkIdle();
    }
    if (ackRider) this.#ackPersisted = Math.max(this.#ackPersisted, ackRider.acked);
    // The progress first, so the data frame below carries the new ack instead of a frame of its own.
    if (progress) this.#progressWritten(progress, undefined, false);
    if (!outcome.ok) {
      // Another instance holds the session now (or the store no longer has it): the caller retries there.
      const moved = outcome.reason === 'not_owner' || outcome.reason === 'not_found';
      throw this.#end(
        moved ? Errors.SESSION_MOVED : Errors.STORE_UNAVAILABLE,
        `append refused: ${outcome.reason}`,
      );
    }
    if (message.seq === this.sender.durable + 1 && !this.#stored) {
      this.sender.confirm(message.seq);
    } else {
      // Appends resolved out of order: confirm only the contiguous prefix.
      this.#stored ??= new Set();
      const stored = this.#stored;
      stored.add(message.seq);
      while (stored.delete(this.sender.durable + 1)) this.sender.confirm(this.sender.durable + 1);
      if (stored.size === 0) this.#stored = undefined;
    }
    this.flush();
    if (progress) this.#ackProcessed();
    return message.seq;
  }

  /** Write every durable message not yet on the current connection. */
  flush(): void {
    const t = this.#transport;
    if (!t) return;
    const entries = this.sender.takeWritable();
    if (entries.length === 0) return;
    for (const e of entries) {
      this.#ackedInbound = this.receiver.takeAck();
      t.writeData(e.payload, e.seq, this.#ackedInbound);
    }
    this.#ctx.metrics.ws_messages_total.inc(entries.length, SERVER_TO_DEVICE);
  }

  /** A data frame from the device. */
  onData(seq: number, data: unknown, binary: boolean): void {
    if (seq === this.receiver.received + 1 && seq - this.receiver.processed > this.sender.maxUnacked) {
      // Beyond the window the device was given (limits.max_unacked): refused before it counts as received.
      this.#transport?.protocolError(
        Errors.WINDOW_EXCEEDED,
        `more than ${this.sender.maxUnacked} unacknowledged messages`,
      );
      return;
    }
    const verdict = this.receiver.onData(seq);
    if (verdict === 'gap') {
      this.#transport?.protocolError(
        Errors.SEQUENCE_GAP,
        `expected ${this.receiver.received + 1}, got ${seq}`,
      );
      return;
    }
    if (verdict === 'duplicate') {
      this.#ctx.metrics.ws_duplicates_dropped_total.inc();
      // Tell the device again how far we are, so a replaying device frees its buffer.
      if (!this.#processing) this.#sendAck(true);
      return;
    }
    this.#inbound.push({ seq, data, binary });
    if (!this.#processing) void this.#pump();
  }

  /** A cumulative ack from the device; false when it broke the protocol (the connection is closing). */
  onAck(ack: number): boolean {
    const r = this.sender.onAck(ack);
    if (!r.ok) {
      this.#transport?.protocolError(
        Errors.ACK_OUT_OF_RANGE,
        `ack ${ack} beyond last sent ${this.sender.lastSeq}`,
      );
      return false;
    }
    if (r.released > 0) this.#saveProgress();
    return true;
  }

  /** The ack for the device, if one is due (piggybacked on pings). */
  takeAckIfDue(): number | undefined {
    return this.receiver.ackDue ? this.receiver.takeAck() : undefined;
  }

  /**
   * Resolves once nothing of this session is in flight here: no store write, no device message
   * waiting for or inside the handler. Another instance taking the session over waits for this, so
   * it reads the last processed sequence number, not one that is about to change.
   */
  quiesced(): Promise<void> {
    if (this.#quiet) return Promise.resolve();
    this.#quietWaiters ??= [];
    const waiters = this.#quietWaiters;
    return new Promise((resolve) => waiters.push(resolve));
  }

  get #quiet(): boolean {
    return this.#pendingWrites === 0 && !this.#processing && this.#inbound.length === 0;
  }

  settled(): Promise<void> {
    if (this.#pendingWrites === 0) return Promise.resolve();
    this.#settledWaiters ??= [];
    const waiters = this.#settledWaiters;
    return new Promise((resolve) => waiters.push(resolve));
  }

  /**
   * This session ends here (replaced by a newer one, taken over by another instance, expired): accept
   * nothing more and close its connection. Device messages already queued are still handed over.
   */
  end(error: ErrorSpec): void {
    this.#end(error, error.message);
  }

  #end(error: ErrorSpec, message: string): ZerodropError {
    const err = createError(error, message, { deviceId: this.deviceId });
    if (!this.#ended) {
      this.#ended = err;
      if (error === Errors.STORE_UNAVAILABLE) {
        this.#ctx.log.error({
          event: 'session_failed',
          device: this.deviceId,
          session: this.id,
          reason: message,
        });
      }
      const t = this.#transport;
      this.#transport = undefined;
      this.sender.detach();
      // A device still connected here lost the race to a newer connection (here or on another
      // instance): 4500 tells it so. A store failure closes with 4000: reconnect and resume.
      t?.close(error === Errors.STORE_UNAVAILABLE ? Errors.STORE_UNAVAILABLE : Errors.SESSION_REPLACED);
      this.#flushAck();
      this.#checkIdle();
    }
    return err;
  }

  async #pump(): Promise<void> {
    this.#processing = true;
    try {
      for (let next = this.#inbound.shift(); next; next = this.#inbound.shift()) {
        await this.#handle(next);
        this.#handled = next.seq;
        this.#saveProgress();
      }
    } finally {
      this.#processing = false;
      this.#checkIdle();
    }
  }

  async #handle(m: Inbound): Promise<void> {
    const { app, metrics } = this.#ctx;
    try {
      await app.onMessage?.({
        id: `${this.id}/${m.seq}`,
        deviceId: this.deviceId,
        sessionId: this.id,
        seq: m.seq,
        data: m.data,
        binary: m.binary,
      });
      metrics.ws_messages_total.inc(1, DEVICE_TO_SERVER);
    } catch (err) {
      metrics.ws_handler_errors_total.inc();
      metrics.dropped_messages.inc();
      this.#ctx.log.warn({
        event: 'handler_failed',
        device: this.deviceId,
        session: this.id,
        seq: m.seq,
        error: String(err),
      });
      this.#ctx.deadLetter({
        deviceId: this.deviceId,
        sessionId: this.id,
        direction: 'device_to_server',
        seq: m.seq,
        reason: 'handler_failed',
        data: m.data,
        binary: m.binary,
      });
    }
  }

  #sendAck(force = false): void {
    const t = this.#transport;
    if (t && (force || this.receiver.ackDue)) {
      this.#ackedInbound = this.receiver.takeAck();
      t.writeAck(this.#ackedInbound);
    }
  }

  /**
   * The device's latest ack or the last handled device message moved on: save both in one write at
   * the end of this turn, unless an append going out first takes them along (see `send`). One
   * progress write at a time; whatever moves on while one is in flight goes with the next.
   */
  #saveProgress(): void {
    if (this.#progress !== 'idle') return;
    if (this.#handled === this.receiver.processed) {
      // Only the device's ack moved: it waits for a write to ride along with, while there can be one.
      if (this.sender.acked <= this.#ackPersisted) return;
      if (this.#ended || !this.#transport) {
        this.#saveProgressNow();
      } else if (!this.#ackTimer) {
        this.#ackTimer = setTimeout(() => {
          this.#ackTimer = undefined;
          this.#saveProgressNow();
        }, ACK_WRITE_DELAY_MS);
      }
      return;
    }
    this.#saveProgressNow();
  }

  /** Write the progress at the end of this turn (unless an append takes it along first). */
  #saveProgressNow(): void {
    if (this.#progress !== 'idle') return;
    this.#progress = 'scheduled';
    // Counted from now: a takeover waiting for this session to be quiet must wait for the mark.
    this.#pendingWrites++;
    process.nextTick(() => {
      if (this.#progress !== 'scheduled') return;
      this.#progress = 'idle';
      this.#pendingWrites--;
      const progress = this.#takeProgress();
      if (!progress) return this.#checkIdle();
      this.#ctx.store.saveProgress(this.id, this.epoch, progress).then(
        () => this.#progressWritten(progress),
        (err: Error) => this.#progressWritten(progress, err),
      );
    });
  }

  /** The progress not yet in the store (the progress write is then in flight), if any. */
  #takeProgress(): SessionProgress | undefined {
    const acked = this.sender.acked > this.#ackPersisted ? this.sender.acked : undefined;
    const processed = this.#handled > this.receiver.processed ? this.#handled : undefined;
    if (acked === undefined && processed === undefined) return undefined;
    if (acked !== undefined && this.#ackTimer) {
      clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
    }
    if (this.#progress === 'idle') this.#pendingWrites++;
    this.#progress = 'writing';
    return { acked, processed };
  }

  /**
   * A progress write ended. Once the processed mark is stored, those messages count as processed and
   * the device is acked (now, or with the data frame `send` writes next: `ackNow` false), so a resume
   * on any instance starts after them.
   */
  #progressWritten(progress: SessionProgress, error?: Error, ackNow = true): void {
    this.#progress = 'idle';
    this.#pendingWrites--;
    if (error) {
      // A lost ack write is retried with the next ack; it only means a longer replay. A lost processed
      // mark still lets the messages count as processed, so the device is not held up: the worst case
      // is a replay the application sees again under the same id.
      this.#ctx.log.error({
        event: 'store_write_failed',
        op: 'saveProgress',
        session: this.id,
        error: error.message,
      });
    } else if (progress.acked !== undefined) {
      this.#ackPersisted = Math.max(this.#ackPersisted, progress.acked);
    }
    const { processed } = progress;
    if (processed !== undefined && processed > this.receiver.processed) {
      for (let seq = this.receiver.processed + 1; seq <= processed; seq++) this.receiver.complete(seq);
      if (ackNow) this.#ackProcessed();
    }
    this.#saveProgress();
    this.#checkIdle();
  }

  /** Ack what is processed when caught up, and at least every ACK_EVERY messages of a burst. */
  #ackProcessed(): void {
    const caughtUp = this.#inbound.length === 0 && this.#handled === this.receiver.processed;
    if (caughtUp || this.receiver.processed - this.#ackedInbound >= ACK_EVERY) this.#sendAck();
  }

  #checkIdle(): void {
    if (this.#pendingWrites === 0 && this.#settledWaiters) {
      const waiters = this.#settledWaiters;
      this.#settledWaiters = undefined;
      for (const w of waiters) w();
    }
    if (this.#quiet && this.#quietWaiters) {
      const waiters = this.#quietWaiters;
      this.#quietWaiters = undefined;
      for (const w of waiters) w();
    }
    if (this.#ended && this.idle) this.#ctx.onRetired(this);
  }
}
