/**
 * The gateway under the capacity suite, as a child process: `createGateway` with the Redis store
 * (`REDIS_URL`, a private `redis-server` the suite started) and an echo application, configured from
 * the `ZERODROP_*` environment the suite passes, as `zerodrop serve` would be: the heartbeat
 * (`ZERODROP_HEARTBEAT`), its timeout, and the connection limits raised for the run. Answers `ready`,
 * `memory` (after a full GC) and `window` (CPU, event-loop delay, heartbeats completed) over IPC;
 * SIGTERM closes the gateway.
 */
import { createGateway, type Gateway, loadConfig } from '@zerodrop/server';
import { serveCapacityRequests } from './capacity-probe.js';
import type { ReadyMessage } from './ipc.js';
import { fail, toParent } from './parent-channel.js';

const config = loadConfig({
  env: process.env,
  overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent' },
});
const gateway: Gateway = createGateway({
  config,
  app: {
    // The trickle's probes come back through the store, as every server→device message does.
    onMessage: async (m) => {
      await gateway.send(m.deviceId, m.data);
    },
  },
});

gateway
  .listen()
  .then((info) => {
    serveCapacityRequests(() => ({
      connections: gateway.connections(),
      // Every pong answering a gateway ping is one RTT observation.
      pongs: gateway.metrics.ws_rtt_seconds.count,
      storeLatencyMs: gateway.store.metrics().command_latency_ms,
    }));
    return toParent({ type: 'ready', url: info.wsUrl } satisfies ReadyMessage);
  })
  .catch(fail);

process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0), fail);
});
