/**
 * The device SDK: one logical session with the gateway, carried over as many WebSocket connections as
 * it takes. It connects, says hello (resuming when it holds a session), replays what the server has not
 * acknowledged, delivers each server message to the application exactly once and in order, acks in
 * batches, and reconnects with backoff and jitter when a connection ends.
 *
 * Sequencing, acks, replay and duplicate suppression are the protocol package's `ReliableSender` and
 * `ReliableReceiver`; this module only drives them with socket events and timers and must never grow
 * its own copy of that logic. One connection's socket and liveness timers live in `connection.ts`.
 */
import {
  CloseCode,
  createError,
  type ErrorSpec,
  Errors,
  encodeControl,
  encodeData,
  type Frame,
  type Payload,
  PROTOCOL_VERSION,
  ReliableReceiver,
  ReliableSender,
  type ResumeFailureReason,
  shouldReconnect,
  toPayload,
  type WelcomeFrame,
  ZerodropError,
} from '@zerodrop/protocol';
import { AckBatcher } from './ack-batcher.js';
import { AckWaiters } from './ack-waiters.js';
import { backoffDelay } from './backoff.js';
import { Connection, type ConnectionEnd } from './connection.js';
import { Emitter, type Listener } from './emitter.js';
import { type ClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { stopError } from './stop-errors.js';
import { openSocket, resolveWebSocket, type WebSocketConstructor } from './transport.js';

/**
 * `connecting`: dialling, no connection since `connect()`; `open`: welcomed, messages flow;
 * `reconnecting`: a connection ended and another is on its way; `closed`: no connection and none
 * coming — after `close()`, after a close code that means stop, or before `connect()`.
 */
export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface MessageMeta {
  /** The server→device sequence number within the current session. */
  readonly seq: number;
}

export interface SessionInfo {
  readonly id: string;
  readonly epoch: string;
}

export type ClientEvents = {
  status: [status: ClientStatus];
  /** A server message: parsed JSON, or a Uint8Array for binary data. Each seq is emitted once, in order. */
  message: [value: unknown, meta: MessageMeta];
  /** The whole frame, resume token included: do not log it. */
  welcome: [frame: WelcomeFrame];
  resumed: [frame: WelcomeFrame];
  /** The server holds no state for us; `reason` says why when a resume was asked (undefined otherwise). */
  fresh: [reason: ResumeFailureReason | undefined];
  /** Every message up to this id (as returned by `send`) is acknowledged. */
  ack: [upTo: number];
  reconnect: [attempt: number, delayMs: number];
  /** Not fatal unless `status` turns `closed`. */
  error: [error: Error];
};

export interface ClientStats {
  /** Handshakes completed (welcomes received). */
  connects: number;
  /** Reconnect attempts scheduled. */
  reconnects: number;
  /** Welcomes with outcome `resumed`. */
  resumes: number;
  /** Welcomes with outcome `fresh`, the first one included. */
  freshSessions: number;
  /** The last welcome, without its resume token (a secret that stats must not leak into logs). */
  lastWelcome: Omit<WelcomeFrame, 'token'> | undefined;
  /** Messages accepted by `send` and not yet acknowledged. */
  unacked: number;
  /** Server messages handed to the application. */
  delivered: number;
  /** Server messages dropped because they had been delivered already (replays). */
  duplicatesDropped: number;
  session: SessionInfo | undefined;
}

interface SessionTicket extends SessionInfo {
  readonly token: string;
}

/** Upper bound of a data frame's envelope around its JSON payload: `{"t":"msg","seq":…,"ack":…,"data":}`. */
const MSG_ENVELOPE_BYTES = 64;
const BINARY_HEADER_BYTES = 9;
const utf8 = new TextEncoder();

export class ZerodropClient {
  readonly #options: ResolvedOptions;
  readonly #events: Emitter<ClientEvents>;
  readonly #acks: AckBatcher;
  readonly #waiters = new AckWaiters();
  #status: ClientStatus;
  #sender: ReliableSender<Payload>;
  #receiver = new ReliableReceiver();
  /**
   * `send` returns wire seq + offset. A fresh session renumbers the carried-over messages from 1, so the
   * offset grows by what the old session had acknowledged: ids stay stable and unique for the client's life.
   */
  #idOffset = 0;
  #session: SessionTicket | undefined;
  #conn: Connection | undefined;
  #dialing = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #moveTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #socketCtor: Promise<WebSocketConstructor> | undefined;
  #lastWelcome: WelcomeFrame | undefined;
  #counts = { connects: 0, reconnects: 0, resumes: 0, freshSessions: 0, delivered: 0, duplicatesDropped: 0 };

  constructor(options: ClientOptions) {
    this.#options = resolveOptions(options);
    this.#events = new Emitter<ClientEvents>((error, event) => this.#listenerFailed(error, event));
    this.#sender = new ReliableSender<Payload>({ maxUnacked: this.#options.maxUnacked });
    this.#acks = new AckBatcher(this.#options.ackDelayMs, this.#options.ackBatchSize, () => this.#sendAck());
    this.#status = this.#options.autoConnect ? 'connecting' : 'closed';
    if (this.#options.autoConnect) void this.#dial();
  }

  get status(): ClientStatus {
    return this.#status;
  }

  get session(): SessionInfo | undefined {
    return this.#session && { id: this.#session.id, epoch: this.#session.epoch };
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.#events.on(event, listener);
  }

  once<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.#events.once(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): void {
    this.#events.off(event, listener);
  }

  /** Start connecting (when `autoConnect` is false, or again after the server told the device to stop). */
  connect(): void {
    if (this.#closed) throw createError(Errors.CLIENT_CLOSED);
    if (this.#conn !== undefined || this.#dialing || this.#reconnectTimer !== undefined) return;
    this.#setStatus('connecting');
    void this.#dial();
  }

  /**
   * Hand a message to the reliable sender: a Uint8Array/ArrayBuffer travels as binary (copied, so the
   * caller may reuse its buffer), anything else as JSON. Returns the message's id, which `waitForAck`
   * and the `ack` event use; it equals the wire seq until a fresh session renumbers the queue. Works
   * while disconnected: the message is written after the next welcome.
   * @throws ZerodropError `buffer_full` when `maxUnacked` messages await their ack, `frame_too_large`
   * when the gateway's frame limit is known and exceeded, `client_closed` after `close()`.
   */
  send(value: unknown): number {
    if (this.#closed) throw createError(Errors.CLIENT_CLOSED);
    const payload = ownPayload(toPayload(value));
    this.#checkFrameSize(payload);
    // The gateway's limit binds too when it is below ours (docs/PROTOCOL.md, flow control).
    const gatewayLimit = this.#lastWelcome?.limits.max_unacked || Number.POSITIVE_INFINITY;
    const accepted =
      this.#sender.size >= gatewayLimit
        ? ({ ok: false, code: 'buffer_full' } as const)
        : this.#sender.accept(payload);
    if (!accepted.ok) {
      if (accepted.code === 'buffer_full') {
        const maxUnacked = Math.min(this.#sender.maxUnacked, gatewayLimit);
        throw createError(Errors.BUFFER_FULL, undefined, { maxUnacked });
      }
      throw new RangeError('the sequence numbers of this session are exhausted');
    }
    // On the device a message is as durable as it will get once it is in memory.
    this.#sender.confirm(accepted.seq);
    this.#flush();
    return accepted.seq + this.#idOffset;
  }

  /** Resolves once a server ack covers message `id` (from `send`); rejects with `client_closed` on `close()`. */
  waitForAck(id: number): Promise<void> {
    if (this.#closed) return Promise.reject(createError(Errors.CLIENT_CLOSED));
    if (!Number.isSafeInteger(id) || id < 1 || id > this.#sender.lastSeq + this.#idOffset) {
      return Promise.reject(new RangeError(`waitForAck(${id}): no message with that id was sent`));
    }
    if (id <= this.#ackedId()) return Promise.resolve();
    return this.#waiters.add(id);
  }

  /** Close for good: socket closed with 1000, timers cleared, pending `waitForAck` rejected, no reconnect. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#clearTimers();
    const conn = this.#conn;
    // Tell the server what we delivered, so it can free its buffer instead of keeping it for a resume.
    if (conn?.welcomed && this.#receiver.ackDue) this.#sendAck();
    this.#detach();
    this.#waiters.rejectAll(createError(Errors.CLIENT_CLOSED));
    this.#setStatus('closed');
    this.#closing = conn ? conn.close(CloseCode.NORMAL, 'client closed') : Promise.resolve();
    return this.#closing;
  }

  stats(): ClientStats {
    let lastWelcome: Omit<WelcomeFrame, 'token'> | undefined;
    if (this.#lastWelcome) {
      const { token: _secret, ...rest } = this.#lastWelcome;
      lastWelcome = rest;
    }
    return {
      ...this.#counts,
      lastWelcome,
      unacked: this.#sender.size,
      session: this.session,
    };
  }

  // ── connection lifecycle ────────────────────────────────────────────────────────────────────────

  /**
   * Upgrade headers: the application's, plus `X-Affinity-Key` naming the instance of the last welcome,
   * so a load balancer routes the device back to the instance that holds its session (nginx in
   * deploy/nginx routes on it). Only where headers can be sent: the platform WebSocket cannot, and
   * browsers carry the gateway's affinity cookie instead.
   */
  #headersFor(
    Ctor: WebSocketConstructor,
    token: string | undefined,
  ): Readonly<Record<string, string>> | undefined {
    const instance = this.#lastWelcome?.instance;
    const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Ctor === platform) return this.#options.headers;
    const extra: Record<string, string> = {};
    if (instance) extra['X-Affinity-Key'] = instance;
    if (token !== undefined) extra.Authorization = `Bearer ${token}`;
    return Object.keys(extra).length === 0 ? this.#options.headers : { ...this.#options.headers, ...extra };
  }

  /** The URL to dial: with the token as a query parameter where it cannot travel as a header. */
  #urlFor(Ctor: WebSocketConstructor, token: string | undefined): string {
    const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (token === undefined || Ctor !== platform) return this.#options.url;
    const url = new URL(this.#options.url);
    url.searchParams.set('token', token);
    return url.toString();
  }

  async #dial(): Promise<void> {
    this.#dialing = true;
    let Ctor: WebSocketConstructor;
    let token: string | undefined;
    try {
      this.#socketCtor ??= resolveWebSocket(this.#options.WebSocket, this.#options.headers !== undefined);
      Ctor = await this.#socketCtor;
      const t = this.#options.token;
      token = typeof t === 'function' ? await t() : t;
    } catch (error) {
      this.#dialing = false;
      this.#socketCtor = undefined;
      if (!this.#closed) this.#halt(asError(error));
      return;
    }
    this.#dialing = false;
    if (this.#closed || this.#status === 'closed') return;
    let conn: Connection;
    try {
      const socket = openSocket(Ctor, this.#urlFor(Ctor, token), this.#headersFor(Ctor, token));
      conn = new Connection(
        socket,
        {
          open: () => this.#onOpen(conn),
          frame: (frame) => this.#onFrame(conn, frame),
          undecodable: (error) => this.#emitError(error),
          socketError: (error) => this.#emitError(error),
          end: (end) => this.#onEnd(conn, end),
        },
        { handshakeMs: this.#options.handshakeTimeoutMs, closeMs: this.#options.closeTimeoutMs },
      );
    } catch (error) {
      // A constructor that throws (bad URL for this implementation, blocked port): a failed attempt.
      this.#emitError(asError(error));
      this.#retry(false);
      return;
    }
    this.#conn = conn;
  }

  #onOpen(conn: Connection): void {
    if (conn !== this.#conn) return;
    const session = this.#session;
    const hello = session
      ? {
          t: 'hello' as const,
          v: PROTOCOL_VERSION,
          device: this.#options.deviceId,
          // The ack we announce is what the app has been handed; the server replays everything above it.
          resume: {
            session: session.id,
            epoch: session.epoch,
            token: session.token,
            ack: this.#receiver.resume(),
          },
        }
      : { t: 'hello' as const, v: PROTOCOL_VERSION, device: this.#options.deviceId };
    this.#acks.stop();
    conn.send(encodeControl(hello));
  }

  #onEnd(conn: Connection, end: ConnectionEnd): void {
    if (conn !== this.#conn) return;
    this.#detach();
    if (end.kind === 'timeout') {
      this.#emitError(end.error);
      this.#retry(false);
    } else if (end.code === CloseCode.MESSAGE_TOO_BIG) {
      // The message stays queued and the next resume sends it again: the app has to hear about it.
      this.#emitError(
        createError(Errors.FRAME_TOO_LARGE, 'the gateway closed with 1009: a queued message is too large'),
      );
      this.#retry(false);
    } else if (!shouldReconnect(end.code)) {
      this.#halt(stopError(end.code, end.reason));
    } else {
      // Backoff even for 4000: the gateway also closes with it when its resume store fails, and a
      // fleet reconnecting at once would hammer the store. Only the `reconnect` frame skips backoff.
      this.#retry(false);
    }
  }

  /** Forget the current connection: nothing more is written on it, and its timers stop. */
  #detach(): void {
    this.#conn = undefined;
    this.#acks.stop();
    if (this.#moveTimer !== undefined) clearTimeout(this.#moveTimer);
    this.#moveTimer = undefined;
    this.#sender.detach();
  }

  #retry(immediate: boolean): void {
    if (this.#closed || this.#status === 'closed') return;
    this.#attempt++;
    const delayMs = immediate ? 0 : backoffDelay(this.#attempt, this.#options.backoff, this.#options.random);
    this.#counts.reconnects++;
    this.#setStatus('reconnecting');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#dial();
    }, delayMs);
    this.#events.emit('reconnect', this.#attempt, delayMs);
  }

  /** Stop without being closed by the app: the server said so, or there is no WebSocket to use. */
  #halt(error: Error): void {
    this.#clearTimers();
    this.#setStatus('closed');
    this.#emitError(error);
  }

  /** End this connection for a protocol violation by the server, and resume on a new one. */
  #violation(conn: Connection, spec: ErrorSpec, detail: string): void {
    if (conn !== this.#conn) return;
    this.#emitError(createError(spec, detail));
    this.#detach();
    void conn.close(CloseCode.PROTOCOL_VIOLATION, spec.code);
    this.#retry(false);
  }

  // ── frames ──────────────────────────────────────────────────────────────────────────────────────

  #onFrame(conn: Connection, frame: Frame): void {
    if (conn !== this.#conn) return;
    switch (frame.t) {
      case 'welcome':
        this.#onWelcome(conn, frame);
        return;
      case 'ping':
        conn.send(encodeControl({ t: 'pong', id: frame.id }));
        if (frame.ack !== undefined && conn.welcomed) this.#onAck(conn, frame.ack);
        return;
      case 'pong':
        return;
      case 'ack':
        if (!conn.welcomed) this.#violation(conn, Errors.HANDSHAKE_REQUIRED, 'ack before welcome');
        else this.#onAck(conn, frame.ack);
        return;
      case 'msg':
      case 'bin':
        this.#onData(conn, frame.seq, frame.ack, frame.data);
        return;
      case 'reconnect':
        this.#onMoveRequest(conn, frame.delay_ms);
        return;
      case 'error':
        this.#emitError(
          new ZerodropError({ code: frame.code, message: frame.message }, frame.message, { from: 'server' }),
        );
        return;
      case 'hello':
        this.#emitError(createError(Errors.UNKNOWN_FRAME_TYPE, 'the server sent a hello'));
        return;
    }
  }

  #onWelcome(conn: Connection, welcome: WelcomeFrame): void {
    if (conn.welcomed) {
      this.#violation(conn, Errors.MALFORMED_FRAME, 'a second welcome on one connection');
      return;
    }
    let released = 0;
    if (welcome.outcome === 'resumed') {
      // Below an ack the server already gave, it forgot messages it had taken responsibility for.
      const resumed =
        welcome.ack < this.#sender.acked ? ({ ok: false } as const) : this.#sender.resume(welcome.ack);
      if (!resumed.ok) {
        // The two sides' states disagree. Only a fresh session (a hello without resume) puts them
        // back on common ground; the queue is re-sent there, renumbered.
        this.#session = undefined;
        this.#violation(
          conn,
          Errors.ACK_OUT_OF_RANGE,
          `welcome.ack ${welcome.ack} outside [${this.#sender.acked}, ${this.#sender.lastSeq}]`,
        );
        return;
      }
      released = resumed.released;
      this.#counts.resumes++;
    } else {
      this.#startFreshSession();
      this.#counts.freshSessions++;
    }
    this.#session = { id: welcome.session, epoch: welcome.epoch, token: welcome.token };
    this.#lastWelcome = welcome;
    this.#counts.connects++;
    this.#attempt = 0;
    conn.welcome(welcome.heartbeat_ms);
    if (released > 0) this.#waiters.release(this.#ackedId());
    this.#flush();

    // Listeners may close the client or drop this connection; stop emitting for a connection that is gone.
    const live = () => conn === this.#conn;
    this.#setStatus('open');
    if (live()) this.#events.emit('welcome', welcome);
    if (live() && welcome.outcome === 'resumed') this.#events.emit('resumed', welcome);
    if (live() && welcome.outcome === 'fresh') this.#events.emit('fresh', welcome.reason);
    if (live() && released > 0) this.#events.emit('ack', this.#ackedId());
  }

  /**
   * The server has no state for us: start both directions over at seq 1, and re-accept every message
   * still unacknowledged, in order, into the new sender so nothing the app handed us is lost.
   */
  #startFreshSession(): void {
    const old = this.#sender;
    const next = new ReliableSender<Payload>({ maxUnacked: this.#options.maxUnacked });
    for (const entry of old.unacked()) {
      const accepted = next.accept(entry.payload);
      // Cannot fail: the new sender has the same bound and starts empty.
      if (!accepted.ok) throw new Error(`re-accepting the queue failed: ${accepted.code}`);
      next.confirm(accepted.seq);
    }
    this.#idOffset += old.acked;
    this.#sender = next;
    this.#receiver = new ReliableReceiver();
    this.#acks.stop();
  }

  /** Apply a cumulative ack from the server; false when it broke the protocol (the connection is gone). */
  #onAck(conn: Connection, ack: number): boolean {
    const result = this.#sender.onAck(ack);
    if (!result.ok) {
      this.#violation(conn, Errors.ACK_OUT_OF_RANGE, `ack ${ack} > last sent ${this.#sender.lastSeq}`);
      return false;
    }
    if (result.released > 0) {
      const upTo = this.#ackedId();
      this.#waiters.release(upTo);
      this.#events.emit('ack', upTo);
    }
    return true;
  }

  #onData(conn: Connection, seq: number, ack: number, value: unknown): void {
    if (!conn.welcomed) {
      this.#violation(conn, Errors.HANDSHAKE_REQUIRED, 'data before welcome');
      return;
    }
    if (!this.#onAck(conn, ack) || conn !== this.#conn) return;
    const receiver = this.#receiver;
    switch (receiver.onData(seq)) {
      case 'accept':
        this.#counts.delivered++;
        // Processed as it is handed over, so a reply the handler sends carries this message's ack
        // and no standalone ack has to follow it.
        receiver.complete(seq);
        this.#events.emit('message', value, { seq });
        if (conn === this.#conn && receiver.ackDue) this.#acks.delivered();
        return;
      case 'duplicate':
        this.#counts.duplicatesDropped++;
        this.#acks.duplicate();
        return;
      case 'gap':
        this.#violation(conn, Errors.SEQUENCE_GAP, `expected seq ${receiver.received + 1}, got ${seq}`);
        return;
    }
  }

  /** The server asks us to move (drain): leave at a random moment in [0, delay_ms], then come back at once. */
  #onMoveRequest(conn: Connection, delayMs: number): void {
    if (this.#moveTimer !== undefined) return;
    this.#moveTimer = setTimeout(
      () => {
        this.#moveTimer = undefined;
        if (conn !== this.#conn) return;
        if (conn.welcomed && this.#receiver.ackDue) this.#sendAck();
        this.#detach();
        void conn.close(CloseCode.RECONNECT, 'moving');
        this.#retry(true);
      },
      Math.floor(this.#options.random() * (delayMs + 1)),
    );
  }

  // ── writing ─────────────────────────────────────────────────────────────────────────────────────

  /** Write every message not yet written on the current connection, each carrying our current ack. */
  #flush(): void {
    const conn = this.#conn;
    if (!conn?.welcomed) return;
    const entries = this.#sender.takeWritable();
    if (entries.length === 0) return;
    for (const entry of entries) conn.send(encodeData(entry.payload, entry.seq, this.#receiver.takeAck()));
    this.#acks.sent();
  }

  #sendAck(): void {
    const conn = this.#conn;
    this.#acks.sent();
    if (conn?.welcomed) conn.send(encodeControl({ t: 'ack', ack: this.#receiver.takeAck() }));
  }

  #checkFrameSize(payload: Payload): void {
    const max = this.#lastWelcome?.limits.max_frame_bytes;
    if (max === undefined || max === 0) return;
    let bytes: number;
    if (payload.kind === 'binary') bytes = BINARY_HEADER_BYTES + payload.bytes.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only when the cheap bound is too big.
    else if (payload.json.length * 3 + MSG_ENVELOPE_BYTES <= max) return;
    else bytes = utf8.encode(payload.json).length + MSG_ENVELOPE_BYTES;
    if (bytes > max) throw createError(Errors.FRAME_TOO_LARGE, undefined, { bytes, max });
  }

  // ── bookkeeping ─────────────────────────────────────────────────────────────────────────────────

  #ackedId(): number {
    return this.#sender.acked + this.#idOffset;
  }

  #setStatus(status: ClientStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#events.emit('status', status);
  }

  #emitError(error: Error): void {
    this.#events.emit('error', error);
  }

  /** A listener threw: report it as an `error` event, or rethrow it outside our stack if nobody listens. */
  #listenerFailed(error: unknown, event: keyof ClientEvents): void {
    if (event !== 'error' && this.#events.listenerCount('error') > 0) this.#emitError(asError(error));
    else
      queueMicrotask(() => {
        throw error;
      });
  }

  #clearTimers(): void {
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    if (this.#moveTimer !== undefined) clearTimeout(this.#moveTimer);
    this.#moveTimer = undefined;
    this.#acks.stop();
  }
}

export function createClient(options: ClientOptions): ZerodropClient {
  return new ZerodropClient(options);
}

/** Binary payloads are held until acked and may be written again: keep our own copy of the bytes. */
function ownPayload(payload: Payload): Payload {
  return payload.kind === 'binary' ? { kind: 'binary', bytes: payload.bytes.slice() } : payload;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
