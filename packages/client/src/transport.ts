/**
 * Where the WebSocket comes from, and the small surface of it the SDK uses. Browsers (and Node ≥ 22)
 * have a global `WebSocket`; on Node 20, or whenever HTTP headers must be sent (the standard WebSocket
 * cannot send any), the `ws` package is loaded with a dynamic import. That import lives only here, and
 * the package's `browser` field maps `ws` to nothing, so a browser bundle never carries it.
 */

/**
 * Any constructor with the WHATWG WebSocket shape: the browser's, undici's, `ws`, or a test double.
 * Deliberately loose so each of those type-checks as an option; `openSocket` narrows the instance.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

/** The part of a WebSocket the SDK touches. `terminate` exists on `ws` only. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { message?: string; error?: unknown }) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
}

/** `WebSocket.OPEN`, the same in every implementation. */
export const OPEN = 1;

/** Pick the WebSocket implementation: explicit option, then the global one, then `ws`. */
export async function resolveWebSocket(
  explicit: WebSocketConstructor | undefined,
  needsHeaders: boolean,
): Promise<WebSocketConstructor> {
  if (explicit !== undefined) return explicit;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined && !needsHeaders) return global;
  const mod: { default?: unknown; WebSocket?: unknown } = await import('ws');
  const ws = mod.WebSocket ?? mod.default;
  if (typeof ws !== 'function') {
    throw new Error(
      needsHeaders
        ? 'options.headers needs the ws package (Node only); in a browser, authenticate another way'
        : 'no WebSocket implementation found: pass options.WebSocket',
    );
  }
  return ws as WebSocketConstructor;
}

/** Open a socket. Headers are passed the way `ws` (and undici) take them; browsers never get here with headers. */
export function openSocket(
  Ctor: WebSocketConstructor,
  url: string,
  headers: Readonly<Record<string, string>> | undefined,
): WebSocketLike {
  // The constructor type is loose on purpose (see WebSocketConstructor); every implementation we accept
  // has the WebSocketLike members, and `ws` takes its options as the third argument.
  const Open = Ctor as unknown as new (url: string, protocols?: string[], options?: object) => WebSocketLike;
  const socket = headers === undefined ? new Open(url) : new Open(url, [], { headers });
  // Browsers default to Blob, which can only be read asynchronously and would break in-order delivery;
  // `ws` defaults to 'nodebuffer' (Buffer is a Uint8Array), which we keep.
  if (socket.binaryType === 'blob') socket.binaryType = 'arraybuffer';
  return socket;
}

/** A received WebSocket message as `decodeFrame` takes it; undefined for a type we cannot read. */
export function inboundMessage(data: unknown): { data: string | Uint8Array; isBinary: boolean } | undefined {
  if (typeof data === 'string') return { data, isBinary: false };
  if (data instanceof Uint8Array) return { data, isBinary: true };
  if (data instanceof ArrayBuffer) return { data: new Uint8Array(data), isBinary: true };
  if (ArrayBuffer.isView(data)) {
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), isBinary: true };
  }
  return undefined;
}

function ignore(): void {}

/** The TCP socket under a Node `ws` WebSocket: what the SDK needs of it to coalesce its writes. */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
  readonly writableCorked: number;
  readonly destroyed: boolean;
}

/**
 * Hand `use` the TCP socket under `socket` once it is upgraded, when there is one: `ws` (Node) emits
 * `upgrade` with the HTTP response, whose `socket` it is. Browsers' and undici's WebSockets expose
 * none, and `use` is never called.
 */
export function onUnderlyingSocket(socket: WebSocketLike, use: (raw: CorkableSocket) => void): void {
  const emitter = socket as { once?: (event: string, listener: (res: { socket?: unknown }) => void) => void };
  if (typeof emitter.once !== 'function') return;
  emitter.once('upgrade', (res) => {
    const raw = res?.socket as Partial<CorkableSocket> | undefined;
    if (typeof raw?.cork === 'function' && typeof raw.uncork === 'function') use(raw as CorkableSocket);
  });
}

/**
 * Stop listening to a socket. The handlers become no-ops rather than null because `ws` emits an
 * `error` when a connecting socket is aborted, and an EventEmitter with no `error` listener throws.
 * `onClose`, when given, still hears the socket's close event.
 */
export function detachSocket(socket: WebSocketLike, onClose: () => void = ignore): void {
  socket.onopen = ignore;
  socket.onmessage = ignore;
  socket.onerror = ignore;
  socket.onclose = onClose;
}

/** Drop a socket without a closing handshake (`terminate` on `ws`; a browser can only close, with `code`). */
export function terminateSocket(socket: WebSocketLike, code: number, reason: string): void {
  if (socket.terminate !== undefined) socket.terminate();
  else socket.close(code, reason);
}
