/**
 * The side of the IPC channel every benchmark child shares: send a message to `run.ts`, answer its
 * `usage` requests (servers), report a start-up failure as `failed`, and exit when the parent goes away (a killed
 * `run.ts` must not leave servers or load workers running).
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { BenchMessage } from './child.js';
import type { UsageMessage } from './ipc.js';

/** Send to `run.ts`; resolves once the message is written to the channel. */
export function toParent<M extends BenchMessage>(message: M): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('not started by run.ts: no IPC channel'));
    process.send(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

/** The next message of `type` from the parent (a child waits for as long as its parent lives). */
export function fromParent<M extends BenchMessage>(type: M['type']): Promise<M> {
  return new Promise((resolve) => {
    const onMessage = (m: BenchMessage) => {
      if (m.type !== type) return;
      process.off('message', onMessage);
      resolve(m as M);
    };
    process.on('message', onMessage);
  });
}

/** The loop-delay timer's period; what the histogram records includes it, so it is subtracted. */
const LOOP_SAMPLE_MS = 5;

/**
 * Answer every `{ type: 'usage' }` with this process's CPU time so far and its event-loop delay p99
 * since the previous request (the histogram restarts, so two requests bracket a window).
 */
export function serveUsageRequests(
  storeLatencyMs: () => UsageMessage['storeLatencyMs'] = () => undefined,
): void {
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  loopDelay.enable();
  process.on('message', (m: BenchMessage) => {
    if (m.type !== 'usage') return;
    const { user, system } = process.cpuUsage();
    const usage: UsageMessage = {
      type: 'usage',
      cpuUs: user + system,
      loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS),
      storeLatencyMs: storeLatencyMs(),
    };
    loopDelay.reset();
    void toParent(usage).catch(fail);
  });
}

/** Report an error to the parent, then exit non-zero (once the report is out, or after a second). */
export function fail(err: unknown): void {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.exitCode = 1;
  if (!process.connected) process.exit(1);
  process.send?.({ type: 'failed', error }, () => process.exit(1));
  setTimeout(() => process.exit(1), 1_000).unref();
}

process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', fail);
