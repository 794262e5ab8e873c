/**
 * The baseline: a bare `ws` WebSocketServer on 127.0.0.1 that sends every message straight back, as a
 * child process of `run.ts`. No framing, no sequence numbers, no store: what the gateway's figures are
 * divided by. Answers `ready` with its URL and `usage` with its CPU time and loop delay; SIGTERM closes it.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { ReadyMessage } from './ipc.js';
import { serveUsageRequests, toParent } from './parent-channel.js';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
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
