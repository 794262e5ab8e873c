/**
 * A scripted stand-in for a WebSocket, for unit tests of the client: the test plays the server by
 * opening the socket, feeding it frames and closing it, and reads back what the client wrote. It
 * behaves like a browser socket (binaryType starts as 'blob', binary arrives as an ArrayBuffer, no
 * `terminate`), so the unit tests also cover the browser path of the transport.
 */
import {
  decodeFrame,
  encodeData,
  type Frame,
  type TextFrame,
  toPayload,
  type WelcomeFrame,
} from '@zerodrop/protocol';

type CloseEvent = { code: number; reason: string };

export class FakeSocket {
  readonly url: string;
  readonly protocols: string | string[] | undefined;
  readonly options: unknown;
  readyState = 0;
  binaryType = 'blob';
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: { message?: string }) => void) | null = null;
  /** Everything the client wrote, in order. */
  readonly written: (string | Uint8Array)[] = [];
  /** The close the client asked for, if it did. */
  closedWith: CloseEvent | undefined;

  constructor(url: string, protocols?: string | string[], options?: unknown) {
    this.url = url;
    this.protocols = protocols;
    this.options = options;
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error(`send on a socket in state ${this.readyState}`);
    this.written.push(typeof data === 'string' ? data : data.slice());
  }

  close(code = 1005, reason = ''): void {
    if (this.readyState >= 2) return;
    this.closedWith = { code, reason };
    this.readyState = 2;
    // Like a real socket, the close event arrives asynchronously, after the peer answered.
    setTimeout(() => this.#closed({ code, reason }), 0);
  }

  // ── the server's side ─────────────────────────────────────────────────────────────────────────

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Deliver a frame (object → JSON text, Uint8Array → binary as an ArrayBuffer). */
  deliver(frame: TextFrame | Uint8Array | string): void {
    if (frame instanceof Uint8Array) {
      const copy = frame.slice();
      this.onmessage?.({ data: this.binaryType === 'arraybuffer' ? copy.buffer : new Blob([copy]) });
    } else {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }
  }

  /** Deliver a data message from the server. */
  deliverData(seq: number, value: unknown, ack = 0): void {
    this.deliver(encodeData(toPayload(value), seq, ack));
  }

  /** The connection ended without the client asking (server close, or a lost TCP connection: 1006). */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    if (code === 1006) {
      // As in browsers: the socket is CLOSED when `error` fires, and `close` follows.
      this.readyState = 3;
      this.onerror?.({ message: 'connection lost' });
      this.onclose?.({ code, reason });
      return;
    }
    this.#closed({ code, reason });
  }

  /** An error with no close event after it: what Node 20's built-in WebSocket does on a refused connection. */
  failSilently(): void {
    this.onerror?.({ message: 'Received network error or non-101 status code.' });
  }

  /** Every frame the client wrote, decoded. */
  frames(): Frame[] {
    return this.written.map((data) => {
      const r = decodeFrame(data, typeof data !== 'string');
      if (!r.ok) throw new Error(`client wrote an undecodable frame: ${r.detail}`);
      return r.frame;
    });
  }

  framesOf<T extends Frame['t']>(t: T): Extract<Frame, { t: T }>[] {
    return this.frames().filter((f): f is Extract<Frame, { t: T }> => f.t === t);
  }

  #closed(event: CloseEvent): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.(event);
  }
}

/** A WebSocket constructor bound to a log of the sockets it created, and a way to await the next one. */
export function fakeWebSocket() {
  const sockets: FakeSocket[] = [];
  const waiting: ((s: FakeSocket) => void)[] = [];
  let taken = 0;
  class WebSocket extends FakeSocket {
    constructor(url: string, protocols?: string | string[], options?: unknown) {
      super(url, protocols, options);
      sockets.push(this);
      const waiter = waiting.shift();
      if (waiter) {
        taken++;
        waiter(this);
      }
    }
  }
  return {
    WebSocket,
    sockets,
    /** The next socket the client creates (or one it created that no `next()` returned yet). */
    next(timeoutMs = 2000): Promise<FakeSocket> {
      const ready = sockets[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(waiter), 1);
          reject(new Error(`the client opened no socket #${sockets.length + 1} within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (socket: FakeSocket) => {
          clearTimeout(timer);
          resolve(socket);
        };
        waiting.push(waiter);
      });
    },
  };
}

let counter = 0;

/** A welcome frame with test defaults. */
export function welcome(overrides: Partial<WelcomeFrame> = {}): WelcomeFrame {
  counter++;
  return {
    t: 'welcome',
    v: 1,
    session: 's1',
    epoch: 'e1',
    token: `token-${counter}`,
    outcome: 'fresh',
    ack: 0,
    replay: 0,
    replay_from: 1,
    heartbeat_ms: 0,
    limits: { max_unacked: 200, max_frame_bytes: 1 << 20 },
    instance: 'test',
    ...overrides,
  };
}
