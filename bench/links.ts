/**
 * One load connection of any kind, behind the same small surface: a plain `ws` client for the raw
 * baseline, a device SDK client (`@zerodrop/client`, with its sequence numbers, acks and reconnects)
 * for the gateway, and a socket.io-client for Socket.IO (WebSocket transport, one connection per
 * device, every device→server packet with an ack callback). All carry probes as JSON, so they carry
 * the same payload. A link may be dialled through a `NetworkGate` (the resume suite cuts and restores
 * devices' connections with it) and tell when it (re)opened.
 */
import { createClient } from '@zerodrop/client';
import { io } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { Probe } from './echo-loop.js';
import type { Target } from './ipc.js';
import { isOffline, type NetworkGate } from './network-gate.js';

export interface Link {
  /** Resolves once the connection can carry probes (SDK: the gateway's welcome arrived). */
  readonly ready: Promise<void>;
  send(probe: Probe): void;
  close(): Promise<void>;
  /** Reconnect attempts of the SDK and socket.io-client (always 0 for raw ws). */
  reconnects(): number;
  /** Probes sent and not yet acknowledged by the server (raw ws: none are acknowledged, 0). */
  unacked(): number;
  /** Errors the connection reported, the first one kept for the report. */
  readonly errors: { count: number; first: string | undefined };
}

export interface LinkExtras {
  /** Dial through this gate (SDK and Socket.IO links). */
  readonly gate?: NetworkGate;
  /** Each time the link (re)opened: `recovered` when the server resumed the device's session. */
  readonly onOpen?: (recovered: boolean) => void;
}

function errorLog(): Link['errors'] {
  return { count: 0, first: undefined };
}

function note(errors: Link['errors'], error: Error): void {
  // Dials refused by the gate while the device is offline are the workload, not a failure.
  if (isOffline(error)) return;
  errors.count++;
  errors.first ??= error.message;
}

/** How long `close` waits for a closing handshake before dropping the socket. */
const CLOSE_WAIT_MS = 2_000;
/** Reconnect backoff of both SDKs: the same ceilings, so neither waits longer to come back. */
const BACKOFF_INITIAL_MS = 50;
const BACKOFF_MAX_MS = 1000;

/** `onEcho` gets each echoed probe, parsed. */
export type EchoHandler = (value: unknown) => void;

/** Open a link of `target`'s kind; a raw link ignores `deviceId` (the URL names the device, if at all). */
export function openLink(
  target: Target,
  url: string,
  deviceId: string,
  onEcho: EchoHandler,
  extras: LinkExtras = {},
): Link {
  if (target === 'raw') return openRawLink(url, onEcho, extras);
  if (target === 'socketio') return openSocketIoLink(url, deviceId, onEcho, extras);
  return openDeviceLink(url, deviceId, onEcho, extras);
}

/** The raw server's URL for a device's connection (server-workloads.ts), with a backlog sent on connect. */
export function rawDeviceUrl(url: string, deviceId: string, backlog = 0): string {
  const u = new URL(url);
  u.searchParams.set('device', deviceId);
  if (backlog > 0) u.searchParams.set('backlog', String(backlog));
  return u.toString();
}

export function openRawLink(url: string, onEcho: EchoHandler, extras: LinkExtras = {}): Link {
  const ws = new WebSocket(url);
  const errors = errorLog();
  ws.on('error', (err) => note(errors, err));
  ws.on('message', (data) => onEcho(JSON.parse(String(data))));
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error(errors.first ?? `connection to ${url} closed before it opened`)));
  });
  ready.then(() => extras.onOpen?.(false)).catch(() => {});
  return {
    ready,
    errors,
    send: (probe) => ws.send(JSON.stringify(probe)),
    reconnects: () => 0,
    unacked: () => 0,
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, CLOSE_WAIT_MS);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.close(1000);
      }),
  };
}

export function openDeviceLink(
  url: string,
  deviceId: string,
  onEcho: EchoHandler,
  extras: LinkExtras = {},
): Link {
  const client = createClient({
    url,
    deviceId,
    backoff: { initialMs: BACKOFF_INITIAL_MS, maxMs: BACKOFF_MAX_MS },
    ...(extras.gate ? { WebSocket: extras.gate.webSocketClass() } : {}),
  });
  const errors = errorLog();
  client.on('error', (err) => note(errors, err));
  client.on('message', (value) => onEcho(value));
  if (extras.onOpen) {
    const onOpen = extras.onOpen;
    client.on('welcome', (welcome) => onOpen(welcome.outcome === 'resumed'));
  }
  const ready = new Promise<void>((resolve, reject) => {
    if (client.status === 'open') return resolve();
    const off = client.on('status', (status) => {
      if (status === 'open') {
        off();
        resolve();
      } else if (status === 'closed') {
        off();
        reject(new Error(errors.first ?? `device ${deviceId} closed before it was welcomed`));
      }
    });
  });
  ready.catch(() => {});
  return {
    ready,
    errors,
    send: (probe) => void client.send(probe),
    reconnects: () => client.stats().reconnects,
    unacked: () => client.stats().unacked,
    close: () => client.close(),
  };
}

export function openSocketIoLink(
  url: string,
  deviceId: string,
  onEcho: EchoHandler,
  extras: LinkExtras = {},
): Link {
  const socket = io(url, {
    // One connection per device, as the SDK has: without it, clients of one URL share a Manager.
    forceNew: true,
    transports: extras.gate ? [extras.gate.transportClass()] : ['websocket'],
    auth: { deviceId },
    reconnectionDelay: BACKOFF_INITIAL_MS,
    reconnectionDelayMax: BACKOFF_MAX_MS,
  });
  const errors = errorLog();
  let unacked = 0;
  let reconnects = 0;
  socket.io.on('reconnect_attempt', () => {
    reconnects++;
  });
  socket.on('connect_error', (err) => note(errors, err));
  // With connection state recovery the server appends the packet's stream offset as a last argument.
  socket.on('m', (probe: unknown) => onEcho(probe));
  socket.on('connect', () => extras.onOpen?.(socket.recovered));
  // Ready once the server's greeting arrived: from then on the client holds an offset to recover from.
  const ready = new Promise<void>((resolve) => {
    socket.once('hello', () => resolve());
  });
  return {
    ready,
    errors,
    send: (probe) => {
      unacked++;
      socket.emit('m', probe, () => {
        unacked--;
      });
    },
    reconnects: () => reconnects,
    unacked: () => unacked,
    close: () =>
      new Promise<void>((resolve) => {
        const engine = socket.io.engine;
        const timer = setTimeout(resolve, CLOSE_WAIT_MS);
        engine?.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.disconnect();
        if (!engine || engine.readyState === 'closed') {
          clearTimeout(timer);
          resolve();
        }
      }),
  };
}
