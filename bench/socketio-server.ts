/**
 * Socket.IO 4.8 under test, as a child process of `run.ts`: a `socket.io` server with connection state
 * recovery and the Redis Streams adapter on the private `redis-server` at `REDIS_URL`, WebSocket
 * transport only (as the gateway). Each device connects with `auth: { deviceId }` and joins the room
 * of its id, so the application addresses devices as the gateway's does (`io.to(deviceId)`). With
 * recovery on, every server→device packet, `socket.emit` included, goes through the adapter: an `XADD`
 * to the Redis stream before it is written, and replayed from the stream to a device that comes back
 * with its last offset. Device→server packets carry an ack callback, which the handler calls once it
 * is done (the echo emitted): the device learns that its packet was handled, as the gateway's ack
 * tells it. Echo by default; the paced and backlog workloads as the other servers run them
 * (server-workloads.ts). Answers `ready` and `usage`; SIGTERM closes it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import type { ReadyMessage } from './ipc.js';
import { serveUsageRequests, toParent } from './parent-channel.js';
import { ServerWorkloads } from './server-workloads.js';

const redisUrl = process.env.REDIS_URL;
if (!redisUrl) throw new Error('socketio-server needs REDIS_URL (a private redis-server)');

/**
 * The stream keeps this many entries (the adapter trims with `MAXLEN ~`). Its default, 10,000, is less
 * than one resume run queues (200 devices × 100 messages) and than a latency run sends: recovery would
 * then fail for the oldest offsets, a loss the configuration, not Socket.IO, would have caused.
 */
const STREAM_MAX_LEN = 2_000_000;
/** How long a disconnected device's session and missed packets are kept (Socket.IO's default). */
const MAX_DISCONNECTION_MS = 120_000;

const redis = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(redis, { maxLen: STREAM_MAX_LEN }),
  connectionStateRecovery: { maxDisconnectionDuration: MAX_DISCONNECTION_MS, skipMiddlewares: true },
  transports: ['websocket'],
  serveClient: false,
  // The gateway's frame limit, and no compression on either side.
  maxHttpBufferSize: 256 * 1024,
  perMessageDeflate: false,
});

const workloads = new ServerWorkloads({
  push: (deviceId, probe) => {
    io.to(deviceId).emit('m', probe);
    return undefined;
  },
  devices: () => [...io.of('/').sockets.values()].map((s) => s.data.deviceId as string),
  attached: (ids) => ids.filter((id) => (io.of('/').adapter.rooms.get(id)?.size ?? 0) > 0).length,
  // The adapter writes each emit's XADD on this connection, in order: one more round trip on it
  // answers once every earlier one is in the stream.
  settled: async () => {
    await redis.ping();
  },
});

io.on('connection', (socket) => {
  const deviceId = String(socket.handshake.auth.deviceId);
  socket.data.deviceId = deviceId;
  // A recovered socket keeps its id and rooms; a new one joins its device's room and is greeted with
  // one packet: a client resumes from the offset of the last packet it received, so one that has
  // received none cannot recover (the gateway's welcome plays that part for the SDK).
  if (!socket.recovered) {
    void socket.join(deviceId);
    socket.emit('hello', deviceId);
  }
  socket.on('m', (probe: unknown, ack?: unknown) => {
    if (workloads.pacing) workloads.onInbound(deviceId, probe);
    else socket.emit('m', probe);
    if (typeof ack === 'function') ack();
  });
});

await redis.ping();
await new Promise<void>((resolve, reject) => {
  http.once('error', reject);
  http.listen(0, '127.0.0.1', resolve);
});
const { port } = http.address() as AddressInfo;
serveUsageRequests();
await toParent({ type: 'ready', url: `http://127.0.0.1:${port}` } satisfies ReadyMessage);

process.once('SIGTERM', () => {
  io.disconnectSockets(true);
  io.close(() => {
    redis.disconnect();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 2_000).unref();
});
