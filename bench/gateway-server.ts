/**
 * The gateway under test, as a child process of `run.ts`: `createGateway` with an echo application, so
 * every device message goes through the handler, its reply is accepted into the resume store and
 * written back to the device; the handler awaits the reply or queues it (`reply-mode`, see ipc.ts). The embedded memory store, or Redis when `REDIS_URL` is set (a private
 * `redis-server` that run.ts started); other settings from the `ZERODROP_*` environment the suite passes
 * (the latency suite sets the heartbeat). The same application also runs the paced and backlog
 * workloads (server-workloads.ts); the gateway's own RTT measurements are handed to them as they are
 * taken. Answers `ready` and `usage` over IPC; SIGTERM closes the gateway (which lets a `--cpu-prof`
 * profile be written).
 */
import { createGateway, type Gateway, loadConfig } from '@zerodrop/server';
import type { BenchMessage } from './child.js';
import type { ReadyMessage, ReplyMode, ReplyModeMessage } from './ipc.js';
import { fail, serveUsageRequests, toParent } from './parent-channel.js';
import { ServerWorkloads } from './server-workloads.js';

const redisUrl = process.env.REDIS_URL;
const config = loadConfig({
  env: process.env,
  overrides: {
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    maxConnections: 20000,
    // Abuse limits, lifted: every load connection comes from 127.0.0.1, and the closed loop sends a
    // few hundred frames per second per device at 100 connections, far beyond what a device sends.
    // Left at their defaults (200 frames/s per device, 1000 connections per address) they would cut
    // connections mid-run and the figures would measure reconnects instead of the data path.
    maxConnectionsPerIp: 20000,
    maxMessageRate: 1_000_000,
    ...(redisUrl ? { redisUrl } : {}),
  },
});
let replyMode: ReplyMode = 'awaited';
const gateway: Gateway = createGateway({
  config,
  app: {
    onMessage: async (m) => {
      if (workloads.pacing) workloads.onInbound(m.deviceId, m.data);
      // Awaited: the handler resolves once the echo is in the store, so the device's ack covers both.
      else if (replyMode === 'awaited') await gateway.send(m.deviceId, m.data);
      // Queued: the reply is accepted in order now and stored with the turn's writes. A reply the
      // gateway refuses fails the run with its reason (the awaited mode fails the handler instead).
      else gateway.send(m.deviceId, m.data).catch(fail);
    },
  },
});
process.on('message', (m: BenchMessage) => {
  if (m.type !== 'reply-mode') return;
  replyMode = (m as ReplyModeMessage).mode;
  void toParent({ type: 'reply-mode-set' }).catch(fail);
});

const workloads = new ServerWorkloads({
  push: (deviceId, probe) => gateway.send(deviceId, probe),
  devices: () => [...gateway.registry.values()].filter((s) => s.attached).map((s) => s.deviceId),
  attached: (ids) => ids.filter((id) => gateway.registry.get(id)?.attached).length,
  ownRtt: () => {
    const [p50, p95, p99] = gateway.metrics.rtt.percentiles(50, 95, 99);
    return { p50: p50!, p95: p95!, p99: p99! };
  },
});
// The gateway's own RTT measurement (its pings' pongs, `rtt_p95_ms` and the `ws_rtt_seconds` histogram come from
// these samples), observed where it records them; the gateway itself is not changed for the bench.
const rttWindow = gateway.metrics.rtt;
const recordRtt = rttWindow.add.bind(rttWindow);
rttWindow.add = (ms: number) => {
  recordRtt(ms);
  workloads.onRtt(ms);
};

gateway
  .listen()
  .then((info) => {
    serveUsageRequests(() => gateway.store.metrics().command_latency_ms);
    return toParent({ type: 'ready', url: info.wsUrl } satisfies ReadyMessage);
  })
  .catch(fail);

process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0), fail);
});
