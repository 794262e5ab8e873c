/**
 * The baseline: a bare `ws` WebSocketServer on 127.0.0.1 that sends every message straight back, as a
 * child process of `run.ts`. No framing, no sequence numbers, no store: what the gateway's figures are
 * divided by. For the paced and backlog workloads (server-workloads.ts) a connection names its device in
 * the URL (`?device=<id>`); `&backlog=<n>` has the server send n numbered probes as soon as it connects
 * (the resume suite's baseline: a fresh connection and its backlog), and during a paced run the server
 * times WebSocket ping/pong round trips, the baseline of the gateway's own RTT measurement. Answers
 * `ready` with its URL and `usage` with its CPU time and loop delay; SIGTERM closes it.
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { sharedClockMs } from './clock.js';
import type { ReadyMessage } from './ipc.js';
import { serveUsageRequests, toParent } from './parent-channel.js';
import { ServerWorkloads } from './server-workloads.js';

/** Bound on the messages one connection may ask for on connect. */
const MAX_BACKLOG = 10_000;
const byDevice = new Map<string, WebSocket>();
/** When each connection's outstanding ping left (shared clock). */
const pingSentAt = new WeakMap<WebSocket, number>();

const workloads = new ServerWorkloads({
  push: (deviceId, probe) => {
    byDevice.get(deviceId)?.send(JSON.stringify(probe));
    return undefined;
  },
  devices: () => [...byDevice.keys()],
  attached: (ids) => ids.filter((id) => byDevice.has(id)).length,
  ping: (deviceId) => {
    const ws = byDevice.get(deviceId);
    if (!ws || pingSentAt.has(ws)) return;
    pingSentAt.set(ws, sharedClockMs());
    ws.ping();
  },
});

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws, req) => {
  ws.on('error', () => ws.terminate());
  const query = new URL(req.url ?? '/', 'http://bench').searchParams;
  const deviceId = query.get('device');
  if (deviceId === null) {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  byDevice.set(deviceId, ws);
  ws.on('close', () => {
    if (byDevice.get(deviceId) === ws) byDevice.delete(deviceId);
  });
  ws.on('message', (data, isBinary) => {
    if (workloads.pacing) workloads.onInbound(deviceId, JSON.parse(String(data)));
    else ws.send(data, { binary: isBinary });
  });
  ws.on('pong', () => {
    const sentAt = pingSentAt.get(ws);
    if (sentAt === undefined) return;
    pingSentAt.delete(ws);
    workloads.onRtt(sharedClockMs() - sentAt);
  });
  const backlog = Math.min(MAX_BACKLOG, Number(query.get('backlog') ?? 0));
  for (let n = 1; n <= backlog; n++) ws.send(JSON.stringify({ t: sharedClockMs(), n }));
});
await new Promise<void>((resolve, reject) => {
  wss.once('listening', resolve);
  wss.once('error', reject);
});
const { port } = wss.address() as AddressInfo;
serveUsageRequests();
await toParent({ type: 'ready', url: `ws://127.0.0.1:${port}` } satisfies ReadyMessage);

process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
