/**
 * The capacity baseline: a bare `ws` WebSocketServer on 127.0.0.1 that holds idle connections and keeps
 * them alive the way the `ws` README does, pinging every client every `CAPACITY_HEARTBEAT_MS` and
 * cutting those that did not answer the previous ping; like the gateway's sweep, it goes round the
 * clients in slices every 20 ms instead of pinging all of them in one turn of the loop (one write each:
 * 15,000 at once stall the loop for hundreds of milliseconds). It echoes text messages (the trickle).
 * No sessions, no store: what the gateway's memory per session and loop delay are divided by. Answers
 * `ready`, `memory` and `window` over IPC; SIGTERM closes it.
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { serveCapacityRequests } from './capacity-probe.js';
import type { ReadyMessage } from './ipc.js';
import { fail, toParent } from './parent-channel.js';

const heartbeatMs = Number(process.env.CAPACITY_HEARTBEAT_MS);
if (!(heartbeatMs > 0)) throw new Error('CAPACITY_HEARTBEAT_MS must be a positive number of milliseconds');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
/** Clients pinged and not heard from since. */
const awaitingPong = new Set<WebSocket>();
let pongs = 0;

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('pong', () => {
    pongs++;
    awaitingPong.delete(ws);
  });
  ws.on('close', () => awaitingPong.delete(ws));
  ws.on('error', () => ws.terminate());
});

/** The heartbeat goes round the clients in steps this far apart, as the gateway's sweep does. */
const STEP_MS = 20;
const slices = Math.max(1, Math.floor(heartbeatMs / STEP_MS));
let cursor = wss.clients.values();
const heartbeat = setInterval(() => {
  for (let left = Math.ceil(wss.clients.size / slices); left > 0; left--) {
    let next = cursor.next();
    if (next.done) {
      cursor = wss.clients.values();
      next = cursor.next();
      if (next.done) return;
    }
    const ws = next.value;
    if (awaitingPong.has(ws)) {
      ws.terminate();
      continue;
    }
    awaitingPong.add(ws);
    ws.ping();
  }
}, heartbeatMs / slices);

await new Promise<void>((resolve, reject) => {
  wss.once('listening', resolve);
  wss.once('error', reject);
});
const { port } = wss.address() as AddressInfo;
serveCapacityRequests(() => ({ connections: wss.clients.size, pongs }));
await toParent({ type: 'ready', url: `ws://127.0.0.1:${port}` } satisfies ReadyMessage).catch(fail);

process.once('SIGTERM', () => {
  clearInterval(heartbeat);
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
