/**
 * One WebSocket connection attempt, from dial to end. It decodes frames and owns the two liveness
 * timers: the handshake deadline (no welcome within `handshakeMs`) and the silence watchdog (nothing at
 * all from the server for 2.5 heartbeats). It knows nothing of sequence numbers or sessions — the client
 * decides what each frame means — and once it has ended (closed by either side, or timed out) it reports
 * nothing more, so a late event from a dead socket can never touch the next connection's state.
 */
import {
  CloseCode,
  createError,
  decodeFrame,
  type ErrorSpec,
  Errors,
  type Frame,
  type ZerodropError,
} from '@zerodrop/protocol';
import {
  type CorkableSocket,
  detachSocket,
  inboundMessage,
  OPEN,
  onUnderlyingSocket,
  terminateSocket,
  type WebSocketLike,
} from './transport.js';

export type ConnectionEnd =
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string }
  | { readonly kind: 'timeout'; readonly error: ZerodropError };

export interface ConnectionHandlers {
  /** The socket is open: time to say hello. */
  open(): void;
  frame(frame: Frame): void;
  /** A message that is not a valid frame; the connection stays up. */
  undecodable(error: ZerodropError): void;
  /** The socket reported an error; `end` follows (as an abnormal closure, 1006). */
  socketError(error: Error): void;
  /** The socket closed, or a liveness timer gave up on it. Not called after `close()`. */
  end(end: ConnectionEnd): void;
}

export interface ConnectionTimeouts {
  /** How long to wait from dialling until the welcome. */
  readonly handshakeMs: number;
  /** How long `close()` waits for the closing handshake before dropping the socket. */
  readonly closeMs: number;
}

/** The close code a WebSocket reports when the connection ended without a closing handshake. */
const ABNORMAL_CLOSURE = 1006;

/** A server silent for this many heartbeat intervals is presumed gone. */
export const SILENCE_HEARTBEATS = 2.5;

const now = (): number => performance.now();

export class Connection {
  readonly #socket: WebSocketLike;
  /** The TCP socket under `#socket` (Node `ws` only): the writes of one pass leave in one system call. */
  #raw: CorkableSocket | undefined;
  readonly #handlers: ConnectionHandlers;
  readonly #closeMs: number;
  #state: 'handshake' | 'welcomed' | 'ended' = 'handshake';
  /** The handshake deadline before the welcome, the silence watchdog after it. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastHeard = now();
  #silenceMs = 0;

  constructor(socket: WebSocketLike, handlers: ConnectionHandlers, timeouts: ConnectionTimeouts) {
    this.#socket = socket;
    this.#handlers = handlers;
    this.#closeMs = timeouts.closeMs;
    socket.onopen = () => handlers.open();
    socket.onmessage = (event) => this.#onMessage(event.data);
    socket.onerror = (event) => this.#onError(socketError(event));
    socket.onclose = (event) => this.#end({ kind: 'closed', code: event.code, reason: event.reason });
    onUnderlyingSocket(socket, (raw) => {
      this.#raw = raw;
    });
    this.#timer = setTimeout(
      () => this.#timeout(Errors.HANDSHAKE_TIMEOUT, CloseCode.HANDSHAKE_TIMEOUT),
      timeouts.handshakeMs,
    );
  }

  get welcomed(): boolean {
    return this.#state === 'welcomed';
  }

  /** Write one WebSocket message; false when the socket can no longer carry it. */
  send(data: string | Uint8Array): boolean {
    if (this.#state === 'ended' || this.#socket.readyState !== OPEN) return false;
    const raw = this.#raw;
    if (raw !== undefined && raw.writableCorked === 0 && !raw.destroyed) {
      // Messages sent together (replies to the frames of one read, their acks) leave in one write,
      // once the code that sent them returned. A native promise, not a timer or `nextTick`, so that an
      // application's fake timers in its tests never hold the SDK's writes.
      raw.cork();
      void Promise.resolve().then(() => raw.uncork());
    }
    this.#socket.send(data);
    return true;
  }

  /** The handshake completed: stop the handshake deadline and watch for silence instead (0 disables it). */
  welcome(heartbeatMs: number): void {
    if (this.#state !== 'handshake') return;
    this.#state = 'welcomed';
    this.#clearTimer();
    if (heartbeatMs <= 0) return;
    this.#silenceMs = heartbeatMs * SILENCE_HEARTBEATS;
    this.#lastHeard = now();
    this.#watch(this.#silenceMs);
  }

  /**
   * Close with a closing handshake; resolves when the socket has closed, or after `closeMs` when the
   * peer does not answer (the socket is then dropped). `end` is not reported for a connection we closed.
   */
  close(code: number, reason: string): Promise<void> {
    if (this.#state === 'ended') return Promise.resolve();
    this.#state = 'ended';
    this.#clearTimer();
    const socket = this.#socket;
    return new Promise<void>((resolve) => {
      const guard = setTimeout(() => {
        terminateSocket(socket, code, reason);
        resolve();
      }, this.#closeMs);
      detachSocket(socket, () => {
        clearTimeout(guard);
        resolve();
      });
      socket.close(code, reason);
    });
  }

  #onMessage(raw: unknown): void {
    if (this.#state === 'ended') return;
    this.#lastHeard = now();
    const message = inboundMessage(raw);
    if (message === undefined) {
      this.#handlers.undecodable(
        createError(Errors.MALFORMED_FRAME, 'message of an unreadable type (Blob?)'),
      );
      return;
    }
    const decoded = decodeFrame(message.data, message.isBinary);
    if (decoded.ok) this.#handlers.frame(decoded.frame);
    else this.#handlers.undecodable(createError(decoded.error, decoded.detail));
  }

  /**
   * An error fails the connection (WHATWG: "fail the WebSocket connection"). A close event normally
   * follows, but Node 20's built-in WebSocket never sends one when the connection is refused, so the
   * error itself ends the attempt, as an abnormal closure.
   */
  #onError(error: Error): void {
    if (this.#state === 'ended') return;
    this.#handlers.socketError(error);
    // The error listener may have closed this connection already (an app closing the client).
    if (this.#ended()) return;
    this.#state = 'ended';
    this.#clearTimer();
    detachSocket(this.#socket);
    terminateSocket(this.#socket, CloseCode.NORMAL, 'socket error');
    this.#handlers.end({ kind: 'closed', code: ABNORMAL_CLOSURE, reason: error.message });
  }

  /** Check for silence every time the limit could have passed since the last frame heard. */
  #watch(delayMs: number): void {
    this.#timer = setTimeout(() => {
      const quiet = now() - this.#lastHeard;
      if (quiet >= this.#silenceMs) this.#timeout(Errors.HEARTBEAT_TIMEOUT, CloseCode.HEARTBEAT_TIMEOUT);
      else this.#watch(this.#silenceMs - quiet);
    }, delayMs);
  }

  #timeout(spec: ErrorSpec, closeCode: number): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#timer = undefined;
    detachSocket(this.#socket);
    terminateSocket(this.#socket, closeCode, spec.code);
    this.#handlers.end({ kind: 'timeout', error: createError(spec) });
  }

  #end(end: ConnectionEnd): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#clearTimer();
    detachSocket(this.#socket);
    this.#handlers.end(end);
  }

  #ended(): boolean {
    return this.#state === 'ended';
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function socketError(event: { message?: string; error?: unknown }): Error {
  if (event.error instanceof Error) return event.error;
  return new Error(event.message ? `WebSocket error: ${event.message}` : 'WebSocket error');
}
