/**
 * One load connection of either kind, behind the same small surface: a plain `ws` client for the raw
 * echo baseline, a device SDK client (`@zerodrop/client`, with its sequence numbers, acks and
 * reconnects) for the gateway. Both send probes as JSON text, so the two carry the same payload.
 */
import { createClient } from '@zerodrop/client';
import { WebSocket } from 'ws';
import type { Probe } from './echo-loop.js';

export interface Link {
  /** Resolves once the connection can carry probes (SDK: the gateway's welcome arrived). */
  readonly ready: Promise<void>;
  send(probe: Probe): void;
  close(): Promise<void>;
  /** SDK reconnects (always 0 for raw ws). */
  reconnects(): number;
  /** Errors the connection reported, the first one kept for the report. */
  readonly errors: { count: number; first: string | undefined };
}

function errorLog(): Link['errors'] {
  return { count: 0, first: undefined };
}

function note(errors: Link['errors'], error: Error): void {
  errors.count++;
  errors.first ??= error.message;
}

/** How long `close` waits for a closing handshake before dropping the socket. */
const CLOSE_WAIT_MS = 2_000;

/** `onEcho` gets each echoed probe, parsed. */
export type EchoHandler = (value: unknown) => void;

export function openRawLink(url: string, onEcho: EchoHandler): Link {
  const ws = new WebSocket(url);
  const errors = errorLog();
  ws.on('error', (err) => note(errors, err));
  ws.on('message', (data) => onEcho(JSON.parse(String(data))));
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error(errors.first ?? `connection to ${url} closed before it opened`)));
  });
  ready.catch(() => {});
  return {
    ready,
    errors,
    send: (probe) => ws.send(JSON.stringify(probe)),
    reconnects: () => 0,
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

export function openDeviceLink(url: string, deviceId: string, onEcho: EchoHandler): Link {
  const client = createClient({ url, deviceId, backoff: { initialMs: 50, maxMs: 1000 } });
  const errors = errorLog();
  client.on('error', (err) => note(errors, err));
  client.on('message', (value) => onEcho(value));
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
    close: () => client.close(),
  };
}
