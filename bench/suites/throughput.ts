/**
 * Target 2, throughput: closed-loop echoes against the raw `ws` echo server (the baseline), the gateway
 * with the memory store and the gateway with the Redis store, at each connection count, each server in
 * its own child process and the load in worker processes (see scenario.ts). One echo is one
 * device→server message (handled, recorded as processed, acked) and one server→device message
 * (appended to the store, delivered, acked), so echo msgs/s is the rate of each direction.
 */

import { correctnessLines, detailsTable, figuresTable, withRatios } from '../report.js';
import { runScenario, type ScenarioResult } from '../scenario.js';
import { ServerSet } from '../servers.js';
import { row, type SuiteContext, type SuiteResult, type TargetRow } from '../suite.js';

/** Target 2: at least half a raw ws echo server's messages/s, measured in the same run. */
const MIN_RATIO = 0.5;

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
        ctx.signal.throwIfAborted();
        const result = await runScenario(
          server,
          connections,
          options,
          `bench-${ctx.runId}-${server.kind}-${connections}`,
        );
        results.push(result);
        ctx.progress(
          `  ${server.label}, ${connections} connections: ${Math.round(result.messagesPerSec)} msgs/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms, ${result.ok ? 'every echo once' : 'ECHOES LOST OR DUPLICATED'}`,
        );
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
          figure: `msgs/s each way, ${s.label}, ${s.connections.toLocaleString('en-US')} conns`,
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
