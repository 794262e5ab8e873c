/**
 * Target 2, throughput: closed-loop echoes against the raw `ws` echo server (the baseline), the gateway
 * with the memory store and the gateway with the Redis store, at each connection count, each server in
 * its own child process and the load in worker processes (see scenario.ts). One echo is one
 * device→server message (handled, recorded as processed, acked) and one server→device message
 * (appended to the store, delivered, acked), so echo msgs/s is the rate of each direction.
 *
 * Each gateway runs twice per connection count, once per reply mode (ipc.ts): the handler awaiting
 * its reply's store write (request/reply, one store round trip per message and device), and the
 * handler queuing its reply (two streams). Both are held to the target.
 */

import type { ReplyMode } from '../ipc.js';
import { correctnessLines, detailsTable, figuresTable, withRatios } from '../report.js';
import { runScenario, type ScenarioResult } from '../scenario.js';
import { SERVER_LABELS, ServerSet } from '../servers.js';
import { row, type SuiteContext, type SuiteResult, type TargetRow } from '../suite.js';

/** Target 2: at least half a raw ws echo server's messages/s, measured in the same run. */
const MIN_RATIO = 0.5;
const REPLY_MODES: readonly ReplyMode[] = ['awaited', 'queued'];
const HOW: Record<ReplyMode, string> = {
  awaited: 'handler awaits its reply',
  queued: 'handler queues its reply',
};

export async function throughputSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const { options } = ctx;
  const servers = new ServerSet();
  const results: ScenarioResult[] = [];
  const stop = () => void servers.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    await servers.start(options.servers, options.cpuProfDir);
    for (const connections of options.connections) {
      for (const server of servers.servers) {
        for (const mode of server.target === 'gateway' ? REPLY_MODES : [undefined]) {
          ctx.signal.throwIfAborted();
          const result = await runScenario(
            server,
            connections,
            options,
            `bench-${ctx.runId}-${server.kind}-${mode ?? 'echo'}-${connections}`,
            mode,
          );
          results.push(result);
          ctx.progress(
            `  ${result.label}, ${connections} connections: ${Math.round(result.messagesPerSec)} msgs/s, ` +
              `p99 ${result.p99Ms.toFixed(2)} ms, ${result.ok ? 'every echo once' : 'ECHOES LOST OR DUPLICATED'}`,
          );
        }
      }
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await servers.stop();
  }
  const scenarios = withRatios(results);
  const targets: TargetRow[] = [];
  for (const s of scenarios) {
    if (s.server === 'raw') continue;
    const raw = scenarios.find((b) => b.server === 'raw' && b.connections === s.connections);
    targets.push(
      row(
        {
          target: s.server === 'redis' ? '2. throughput' : '2. throughput (memory store, reference)',
          figure:
            `msgs/s each way, ${SERVER_LABELS[s.server]}, ` +
            `${s.replyMode ? `${HOW[s.replyMode]}, ` : ''}${s.connections.toLocaleString('en-US')} conns`,
          measured: s.messagesPerSec,
          unit: 'msgs/s',
          goal: `≥ ${MIN_RATIO * 100} % of raw ws`,
          baseline: raw ? { label: 'raw ws echo', value: raw.messagesPerSec } : undefined,
        },
        { minRatio: MIN_RATIO, judged: !options.quick && s.server === 'redis' },
      ),
    );
  }
  return {
    suite: 'throughput',
    targets,
    ok: scenarios.every((s) => s.ok),
    text: [
      figuresTable(scenarios),
      detailsTable(scenarios),
      ['Correctness (every counter sent must come back exactly once):', ...correctnessLines(scenarios)].join(
        '\n  ',
      ),
    ],
    data: { scenarios },
  };
}
