/**
 * Target 5 (and issue #4's measurement), drain: the runbook's rolling deployment A → B run as the
 * `zerodrop drill rolling-deploy` drill runs it (a lab of nginx, two gateway instances and Redis as
 * native processes; the device fleet on the real SDK in this process, streaming both ways), with the
 * fleet at `--drain-devices`. Reports how long A took from `drain/start` to `drained`, the
 * reconnect-to-resumed time every device saw (from its socket dropping to the welcome from B), and the
 * drill's own audit: every message at both ends exactly once. The baseline is the same fleet's first
 * connect in the same run.
 */
import { percentileOfSorted } from '@zerodrop/protocol';
import { runScenario } from '../../packages/cli/src/drill/runner.js';
import { scenarioNamed } from '../../packages/cli/src/drill/scenarios.js';
import { row, type SuiteContext, type SuiteResult } from '../suite.js';

/** Target 5: 1,000 sessions moved in at most 5 s, device-seen reconnect p99 at most 1 s. */
const MAX_DRAIN_S = 5;
const MAX_RECONNECT_P99_MS = 1000;
/**
 * The drain hands out its reconnect hints over this spread (the gateway's ZERODROP_DRAIN_SPREAD,
 * default 10 s): short enough to move everyone within the target, long enough that B takes the
 * resumes in batches instead of one storm.
 */
const DRAIN_SPREAD = '3s';

export async function drainSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const devices = ctx.options.drainDevices;
  const scenario = scenarioNamed('rolling-deploy');
  if (!scenario) throw new Error('the rolling-deploy drill is missing');
  ctx.progress(
    `  rolling deploy of ${devices} devices from app to app_replica (drain spread ${DRAIN_SPREAD})`,
  );
  const result = await runScenario(scenario, {
    devices,
    durationS: ctx.options.quick ? 6 : 15,
    rate: 1,
    progress: () => {},
    signal: ctx.signal,
    gatewayEnv: { ZERODROP_DRAIN_SPREAD: DRAIN_SPREAD },
  });
  const f = result.figures;
  if (result.error !== null || f.drain === null) {
    throw new Error(`the rolling-deploy drill did not complete: ${result.error ?? 'no drain was recorded'}`);
  }
  const reconnects = [...f.reconnections].sort((a, b) => a - b);
  const at = (p: number) => (reconnects.length > 0 ? percentileOfSorted(reconnects, p) : Number.NaN);
  const drainS = f.drain.ms / 1000;
  const connectS = f.connectMs / 1000;
  const judged = !ctx.options.quick;
  const sessions = `${f.drain.sessionsMoved.toLocaleString('en-US')} sessions`;
  const lost =
    f.deviceToApp.missing + f.deviceToApp.duplicated + f.appToDevice.missing + f.appToDevice.duplicated;
  const reconnectRow = (p: number, label: string) =>
    row(
      {
        target: '5. drain',
        figure: `reconnect-to-resumed ${label}, seen by devices`,
        measured: at(p),
        unit: 'ms',
        goal: p === 99 ? `≤ ${MAX_RECONNECT_P99_MS} ms` : 'reported',
        baseline: undefined,
      },
      p === 99 ? { max: MAX_RECONNECT_P99_MS, judged } : { judged: false },
    );
  ctx.progress(
    `  drained ${sessions} in ${drainS.toFixed(2)} s; reconnect p50 ${at(50)} ms, p95 ${at(95)} ms, ` +
      `p99 ${at(99)} ms, max ${reconnects.at(-1)} ms; ${result.ok ? 'nothing lost' : 'FAILED'}`,
  );
  return {
    suite: 'drain',
    targets: [
      row(
        {
          target: '5. drain',
          figure: `time to drain ${sessions} to the other instance`,
          measured: drainS,
          unit: 's',
          goal: `≤ ${MAX_DRAIN_S} s`,
          baseline: undefined,
        },
        { max: MAX_DRAIN_S, judged },
      ),
      reconnectRow(50, 'p50'),
      reconnectRow(95, 'p95'),
      reconnectRow(99, 'p99'),
      reconnectRow(100, 'max'),
      row(
        {
          target: '5. drain',
          figure: 'messages missing or duplicated, both directions',
          measured: lost,
          unit: '',
          goal: '= 0',
          baseline: undefined,
        },
        { max: 0, judged: true },
      ),
    ],
    // The drill also judges the runbook's RTT and reconnection targets; the bench reports those as figures.
    ok: lost === 0 && f.settled,
    text: [
      [
        `Rolling deploy of ${devices} devices (drain spread ${DRAIN_SPREAD}): ${sessions} moved in ` +
          `${drainS.toFixed(2)} s; the fleet's first connect took ${connectS.toFixed(2)} s.`,
        `Reconnect-to-resumed over ${reconnects.length} reconnections: p50 ${at(50)} ms, p95 ${at(95)} ms, ` +
          `p99 ${at(99)} ms, max ${reconnects.at(-1)} ms; resumed ${f.resumed}, refused ${f.resumeRefused}.`,
        `Device → app: sent ${f.deviceToApp.sent}, missing ${f.deviceToApp.missing}, duplicated ` +
          `${f.deviceToApp.duplicated}; app → device: sent ${f.appToDevice.sent}, missing ` +
          `${f.appToDevice.missing}, duplicated ${f.appToDevice.duplicated}.`,
        ...result.checks
          .filter((c) => c.ok === false)
          .map((c) => `FAILED check: ${c.name}: ${c.drill} (${c.target})`),
      ].join('\n'),
    ],
    data: {
      devices,
      drainSpread: DRAIN_SPREAD,
      drainMs: f.drain.ms,
      connectMs: f.connectMs,
      reconnectMs: {
        p50: at(50),
        p95: at(95),
        p99: at(99),
        max: reconnects.at(-1) ?? null,
        count: reconnects.length,
      },
      drill: {
        ok: result.ok,
        checks: result.checks,
        figures: { ...f, rttMs: undefined, reconnections: undefined },
      },
    },
  };
}
