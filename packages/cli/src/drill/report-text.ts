/**
 * The drill's verdict as text: per scenario one table (the drill's figure, the gateway's, the target,
 * OK or MISSED), then what could not run, then where the drill and the gateway disagree; and, for
 * scripts, the same figures as one JSON document.
 */
import { type Row, renderTable } from '../table.js';
import { type Check, DRILL_TARGETS, type ScenarioResult } from './result.js';

const verdict = (c: Check) => (c.ok === null ? (c.target ? 'n/a' : '') : c.ok ? 'OK' : 'MISSED');

export function renderScenario(r: ScenarioResult): string {
  const load = r.loadAverage.map((l) => l.toFixed(1)).join(' → ');
  const head = `${r.title}: ${r.devices} devices, ${r.durationS} s, ${r.ratePerS} message/s per device each way (machine load average ${load})`;
  const rows: Row[] = r.checks.map((c) => [c.name, c.drill, c.gateway, c.target, verdict(c)]);
  const lines = [head, '', renderTable(rows, { header: ['check', 'drill', 'gateway', 'target', 'result'] })];
  if (r.error) lines.push('', `did not complete: ${r.error}`);
  lines.push(
    '',
    r.disagreements.length === 0
      ? "the drill's counts and the gateway's counters agree"
      : ['the drill and the gateway disagree:', ...r.disagreements.map((d) => `  - ${d}`)].join('\n'),
  );
  const missed = r.checks.filter((c) => c.ok === false).map((c) => c.name);
  lines.push(
    r.ok
      ? `${r.scenario}: zero drops, every target met`
      : `${r.scenario}: FAILED (${[...missed, ...(r.error ? ['did not complete'] : [])].join('; ')})`,
  );
  return lines.join('\n');
}

export function renderSummary(results: readonly ScenarioResult[]): string {
  const rows: Row[] = results.map((r) => {
    const f = r.figures;
    const missing = f.deviceToApp.missing + f.appToDevice.missing;
    return [
      r.scenario,
      r.ok ? 'OK' : 'FAILED',
      String(f.deviceToApp.sent + f.appToDevice.sent),
      String(missing),
    ];
  });
  return renderTable(rows, { header: ['scenario', 'result', 'messages', 'missing'], alignRight: [2, 3] });
}

export function drillJson(results: readonly ScenarioResult[], options: object): string {
  const targets = {
    dropped_messages: `= ${DRILL_TARGETS.droppedMessages}`,
    resume_success_rate: `> ${DRILL_TARGETS.resumeSuccessPercent} %`,
    rtt_p95_ms: `<= ${DRILL_TARGETS.rttP95Ms}`,
    reconnection_ms: `<= ${DRILL_TARGETS.reconnectMs}`,
    drain: '<= its grace period',
  };
  return JSON.stringify({ ok: results.every((r) => r.ok), options, targets, scenarios: results }, null, 2);
}
