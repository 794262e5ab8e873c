/**
 * One device WebSocket: decodes frames, runs the handshake through its host, forwards data and acks to
 * the session it is attached to, answers and sends pings, and enforces the handshake and heartbeat
 * timeouts (driven by the gateway's sweep, not by a timer per connection). Every bad frame gets a
 * registry code: an `error` frame, or a close code when the connection cannot go on.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CloseCode,
  decodeFrame,
  type ErrorSpec,
  Errors,
  encodeControl,
  encodeData,
  type Frame,
  type HelloFrame,
  type Payload,
  type TextFrame,
} from '@zerodrop/protocol';
import type { WebSocket } from 'ws';
import type { Logger } from './logger.js';
import { type GatewayMetrics, observeRtt } from './metrics.js';
import type { Session, SessionTransport } from './session.js';
import { coalesceWrites } from './write-coalescing.js';

export interface ConnectionHost {
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Frames per second a device may send; bursts up to twice that. */
  readonly maxMessageRate: number;
  /** Establish (or resume) the session for `hello`; attaches `conn` and sends the welcome. */
  handshake(conn: DeviceConnection, hello: HelloFrame): Promise<void>;
  onClosed(conn: DeviceConnection): void;
  /** The connection left the "upgraded, no hello yet" state (hello arrived, or it closed first). */
  onHandshakeStarted(conn: DeviceConnection): void;
}

type State = 'handshaking' | 'open' | 'closed';

/** How long a close handshake may take before the socket is cut. */
const CLOSE_GRACE_MS = 2000;

export class DeviceConnection implements SessionTransport {
  readonly remoteAddress: string;
  state: State = 'handshaking';
  /** Asked to reconnect elsewhere by a drain. */
  hinted = false;
  session: Session | undefined;
  deviceId: string | undefined;
  readonly #ws: WebSocket;
  /** The TCP socket under `#ws`, whose writes are coalesced per pass (write-coalescing.ts). */
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #openedAt = performance.now();
  #lastSeen = performance.now();
  #nextPingAt = 0;
  #pingId = 0;
  #pingSentAt = 0;
  #helloSeen = false;
  #pending = true;
  #tokenConfirmed = false;
  /** Token bucket of the frame rate limit. */
  #tokens: number;
  #refilledAt = performance.now();
  /** The device id the upgrade authenticated (undefined when devices are not authenticated). */
  readonly authenticatedDevice: string | undefined;

  constructor(
    ws: WebSocket,
    socket: Socket,
    host: ConnectionHost,
    remoteAddress: string,
    authenticatedDevice?: string,
  ) {
    this.#ws = ws;
    this.#socket = socket;
    this.#host = host;
    this.remoteAddress = remoteAddress;
    this.authenticatedDevice = authenticatedDevice;
    this.#tokens = host.maxMessageRate * 2;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClose());
    // WebSocket-level pings (esp_websocket_client sends them) prove the device alive too.
    ws.on('ping', () => {
      this.#lastSeen = performance.now();
    });
    ws.on('error', (err: Error & { code?: string }) => this.#onSocketError(err));
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Called by the handshake once it attached a session. */
  opened(session: Session): void {
    this.session = session;
    this.state = 'open';
    // The first ping at a random moment within one heartbeat: devices that connected together (a fleet
    // coming back after a deploy) are then not pinged together ever after, and each step of the
    // gateway's sweep sends about as many pings as the next (a ping is one socket write).
    this.#nextPingAt = performance.now() + this.#host.heartbeatMs * Math.random();
  }

  send(frame: Exclude<TextFrame, { t: 'msg' }>): void {
    if (this.state === 'closed') return;
    coalesceWrites(this.#socket);
    this.#ws.send(encodeControl(frame));
  }

  writeData(payload: Payload, seq: number, ack: number): void {
    if (this.state === 'closed') return;
    coalesceWrites(this.#socket);
    this.#ws.send(encodeData(payload, seq, ack));
  }

  writeAck(ack: number): void {
    this.send({ t: 'ack', ack });
  }

  protocolError(error: ErrorSpec, detail: string): void {
    const { metrics, log } = this.#host;
    metrics.ws_protocol_errors_total.inc(1, { code: error.code });
    log.warn({
      event: 'protocol_error',
      code: error.code,
      detail,
      device: this.deviceId,
      remote: this.remoteAddress,
    });
    this.send({ t: 'error', code: error.code, message: `${error.message}: ${detail}` });
    if (error.closeCode !== undefined) this.close(error);
  }

  /** Close with the error's close code (reconnect-class 4000 when it has none). */
  close(error: ErrorSpec): void {
    if (this.state === 'closed') return;
    const code = error.closeCode ?? CloseCode.RECONNECT;
    this.#host.metrics.ws_closes_total.inc(1, { code: error.code });
    this.#detach();
    this.#ws.close(code, error.code);
    setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Ask the device to reconnect (drain) within `delayMs`. */
  requestReconnect(reason: string, delayMs: number): void {
    this.send({ t: 'reconnect', reason, delay_ms: delayMs });
  }

  /** Heartbeat and handshake deadlines, called by the gateway's sweep. */
  tick(now: number): void {
    if (this.state === 'handshaking') {
      if (now - this.#openedAt > this.#host.handshakeTimeoutMs && !this.#helloSeen)
        this.close(Errors.HANDSHAKE_TIMEOUT);
      return;
    }
    if (this.state !== 'open') return;
    if (now - this.#lastSeen > this.#host.heartbeatTimeoutMs) {
      this.#host.log.info({ event: 'heartbeat_timeout', device: this.deviceId });
      this.close(Errors.HEARTBEAT_TIMEOUT);
      return;
    }
    if (now >= this.#nextPingAt) {
      this.#pingId = (this.#pingId + 1) >>> 0;
      this.#pingSentAt = now;
      this.#nextPingAt = now + this.#host.heartbeatMs;
      const ack = this.session?.takeAckIfDue();
      this.send(ack === undefined ? { t: 'ping', id: this.#pingId } : { t: 'ping', id: this.#pingId, ack });
    }
  }

  /** Cut the TCP connection without a close handshake. */
  terminate(): void {
    this.#detach();
    this.#ws.terminate();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    // Frames still arriving on a connection we closed belong to no session any more.
    if (this.state === 'closed') return;
    const now = performance.now();
    this.#lastSeen = now;
    const rate = this.#host.maxMessageRate;
    this.#tokens = Math.min(rate * 2, this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) {
      this.#host.metrics.ws_rate_limited_total.inc();
      this.#host.log.warn({ event: 'rate_limited', device: this.deviceId, remote: this.remoteAddress });
      this.close(Errors.RATE_LIMITED);
      return;
    }
    this.#tokens -= 1;
    const decoded = decodeFrame(isBinary ? data : data.toString('utf8'), isBinary);
    if (!decoded.ok) {
      this.protocolError(decoded.error, decoded.detail);
      return;
    }
    this.#onFrame(decoded.frame);
  }

  #onFrame(frame: Frame): void {
    if (frame.t === 'hello') {
      if (this.#helloSeen) {
        this.protocolError(Errors.HANDSHAKE_REQUIRED, 'hello sent twice');
        return;
      }
      this.#helloSeen = true;
      this.#leavePending();
      if (this.authenticatedDevice !== undefined && frame.device !== this.authenticatedDevice) {
        this.protocolError(
          Errors.DEVICE_UNAUTHORIZED,
          'hello.device differs from the device id of the token',
        );
        return;
      }
      this.deviceId = frame.device;
      this.#host.handshake(this, frame).catch((err: Error) => {
        this.#host.log.error({ event: 'handshake_failed', device: frame.device, error: err.message });
        this.close(Errors.STORE_UNAVAILABLE);
      });
      return;
    }
    // Any frame after the welcome shows the device got it (and its new resume token).
    if (this.state === 'open' && !this.#tokenConfirmed) {
      this.#tokenConfirmed = true;
      this.session?.confirmToken();
    }
    if (frame.t === 'ping') {
      this.send({ t: 'pong', id: frame.id });
      if (frame.ack !== undefined) this.session?.onAck(frame.ack);
      return;
    }
    if (frame.t === 'pong') {
      if (frame.id === this.#pingId && this.#pingSentAt > 0) {
        observeRtt(this.#host.metrics, performance.now() - this.#pingSentAt);
        this.#pingSentAt = 0;
      }
      return;
    }
    if (frame.t === 'error') {
      this.#host.log.warn({ event: 'device_error', device: this.deviceId, code: frame.code });
      return;
    }
    const session = this.state === 'open' ? this.session : undefined;
    if (!session) {
      this.protocolError(Errors.HANDSHAKE_REQUIRED, `${frame.t} before welcome`);
      return;
    }
    switch (frame.t) {
      case 'msg':
      case 'bin':
        if (session.onAck(frame.ack)) session.onData(frame.seq, frame.data, frame.t === 'bin');
        return;
      case 'ack':
        session.onAck(frame.ack);
        return;
      default:
        this.protocolError(Errors.UNKNOWN_FRAME_TYPE, `${frame.t} is not sent by devices`);
    }
  }

  #onSocketError(err: Error & { code?: string }): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#host.metrics.ws_protocol_errors_total.inc(1, { code: Errors.FRAME_TOO_LARGE.code });
      this.#host.log.warn({
        event: 'protocol_error',
        code: Errors.FRAME_TOO_LARGE.code,
        device: this.deviceId,
      });
      return;
    }
    this.#host.metrics.ws_protocol_errors_total.inc(1, { code: Errors.MALFORMED_FRAME.code });
    this.#host.log.warn({ event: 'socket_error', code: err.code, device: this.deviceId, error: err.message });
  }

  #leavePending(): void {
    if (!this.#pending) return;
    this.#pending = false;
    this.#host.onHandshakeStarted(this);
  }

  #detach(): void {
    if (this.state === 'closed') return;
    this.#leavePending();
    this.state = 'closed';
    this.session?.detach(this);
    this.#host.onClosed(this);
  }

  #onClose(): void {
    this.#detach();
  }
}
