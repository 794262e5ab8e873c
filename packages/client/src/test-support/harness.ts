/**
 * Shared helpers for the client's unit tests: a client wired to a fake WebSocket, and small ways to
 * await an event or a condition with a deadline, so a broken behaviour fails a test instead of hanging it.
 */
import type { WelcomeFrame } from '@zerodrop/protocol';
import { type ClientEvents, createClient, type ZerodropClient } from '../client.js';
import type { ClientOptions } from '../options.js';
import { type FakeSocket, fakeWebSocket, welcome } from './fake-websocket.js';

export type Harness = ReturnType<typeof fakeWebSocket> & { client: ZerodropClient };

/** A client on a fake WebSocket; its first socket is created but not opened. */
export function harness(options: Partial<ClientOptions> = {}): Harness {
  const fake = fakeWebSocket();
  const client = createClient({
    url: 'ws://gateway.test/ws',
    deviceId: 'bear-1',
    WebSocket: fake.WebSocket,
    backoff: { initialMs: 1, maxMs: 1 },
    ...options,
  });
  return { ...fake, client };
}

/** Take the client's next socket, open it and welcome it. */
export async function accept(h: Harness, frame: Partial<WelcomeFrame> = {}): Promise<FakeSocket> {
  const socket = await h.next();
  socket.open();
  socket.deliver(welcome(frame));
  return socket;
}

/** A client on a fake WebSocket with an open, welcomed first connection. */
export async function connected(
  options: Partial<ClientOptions> = {},
  frame: Partial<WelcomeFrame> = {},
): Promise<Harness & { socket: FakeSocket }> {
  const h = harness(options);
  const socket = await accept(h, frame);
  return { ...h, socket };
}

/** Resolve with the arguments of the next `event` for which `match` holds. */
export function nextEvent<K extends keyof ClientEvents>(
  client: ZerodropClient,
  event: K,
  match: (...args: ClientEvents[K]) => boolean = () => true,
  timeoutMs = 2000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(event, (...args) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}

/** Resolve once `condition` holds, checking every few milliseconds. */
export async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collect every emission of `event` into an array. */
export function record<K extends keyof ClientEvents>(client: ZerodropClient, event: K): ClientEvents[K][] {
  const seen: ClientEvents[K][] = [];
  client.on(event, (...args) => seen.push(args));
  return seen;
}
