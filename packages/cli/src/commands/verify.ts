/**
 * `zerodrop verify`: the runbook's "verify zero drops" and its performance targets, for every instance
 * named with `--url`. An operation passed when no message was dropped (`dropped_messages` = 0), the
 * resume success rate `ws_resumes / (ws_resumes + resume_failures)` is above 95 % (when there were
 * resumes), and the RTT p95 is at most 150 ms (when there are samples). Exit 0 when every target is met
 * on every instance, 1 otherwise: a deploy script can gate on it, as the runbook's shell snippet does.
 */
import { expectNoPositionals, parseArgs, wantsHelp } from '../args.js';
import { fetchMetrics, type MetricsDocument, type MetricsResult } from '../gateway-metrics.js';
import {
  displayUrl,
  gatewayUrls,
  MULTI_GATEWAY_OPTIONS,
  OPTION_HELP,
  timeoutMs,
} from '../gateway-options.js';
import { type Row, renderTable } from '../table.js';

const COMMAND = 'verify';

/** The runbook's "Zero-Drop Criteria". */
export const TARGETS = {
  droppedMessages: 0,
  /** Resume success rate must be above this (percent). */
  resumeSuccessPercent: 95,
  /** RTT p95 must be at most this (ms). */
  rttP95Ms: 150,
} as const;

const HELP = `Usage: zerodrop verify [--url <url>]... [options]

Checks the runbook's zero-drop criteria on every instance given with --url (repeat it to check both
instances of a scale-down or a rolling deploy):

  dropped_messages       = ${TARGETS.droppedMessages}      (any dropped message fails the operation)
  resume success rate    > ${TARGETS.resumeSuccessPercent} %   ws_resumes / (ws_resumes + resume_failures); n/a with no resumes
  rtt_p95_ms             <= ${TARGETS.rttP95Ms} ms (n/a with no RTT samples yet)

The figures are the gateway's counters since it started. Exit code 0 when every target is met on
every instance, 1 when one is missed or an instance cannot be read, 2 on a usage error.

${OPTION_HELP.urls}
${OPTION_HELP.timeout}
  --json             print the verdict as JSON (for scripts)
${OPTION_HELP.help}`;

export interface Check {
  readonly name: 'dropped_messages' | 'resume_success_rate' | 'rtt_p95_ms';
  /** The measured value; null when there is nothing to measure yet (no resumes, no RTT samples). */
  readonly value: number | null;
  readonly target: string;
  readonly ok: boolean;
  /** The value as an operator reads it, with what it was computed from. */
  readonly shown: string;
  /** Why it failed, in one sentence, when it did. */
  readonly problem?: string;
  readonly [detail: string]: unknown;
}

export interface InstanceVerdict {
  readonly url: string;
  readonly instance: string | null;
  readonly timestamp: string | null;
  readonly ok: boolean;
  readonly checks: readonly Check[];
  readonly error?: { readonly kind: string; readonly message: string };
}

export async function verifyCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv, MULTI_GATEWAY_OPTIONS, COMMAND);
  expectNoPositionals(args, COMMAND);
  const urls = gatewayUrls(args, process.env, COMMAND);
  const verdicts = (await fetchMetrics(urls, timeoutMs(args, COMMAND))).map(judge);
  const ok = verdicts.every((v) => v.ok);

  if (args.has('json')) {
    const targets = {
      dropped_messages: `= ${TARGETS.droppedMessages}`,
      resume_success_rate: `> ${TARGETS.resumeSuccessPercent}`,
      rtt_p95_ms: `<= ${TARGETS.rttP95Ms}`,
    };
    const instances = verdicts.map((v) => ({ ...v, checks: v.checks.map(({ shown: _, ...c }) => c) }));
    console.log(JSON.stringify({ ok, targets, instances }, null, 2));
  } else {
    console.log(renderVerdicts(verdicts));
  }
  for (const v of verdicts) {
    if (v.error) console.error(`zerodrop: ${v.error.message}`);
    for (const c of v.checks) if (c.problem) console.error(`zerodrop: ${label(v)}: ${c.problem}`);
  }
  if (ok) {
    const names = verdicts.map(label).join(', ');
    if (!args.has('json')) console.log(`\nzero drops; every target met on ${names}`);
    return 0;
  }
  return 1;
}

function judge(result: MetricsResult): InstanceVerdict {
  if (!result.ok) {
    const { kind, message } = result.error;
    return {
      url: result.url,
      instance: null,
      timestamp: null,
      ok: false,
      checks: [],
      error: { kind, message },
    };
  }
  const doc = result.response.body;
  const base = { url: result.url, instance: doc.instance ?? null, timestamp: doc.timestamp ?? null };
  const missing = missingFields(doc);
  if (missing.length > 0) {
    const message = `${displayUrl(result.url)} answered without ws_metrics.${missing.join(', ws_metrics.')}: is it a zerodrop gateway?`;
    return { ...base, ok: false, checks: [], error: { kind: 'bad_response', message } };
  }
  const checks = evaluate(doc.ws_metrics as Record<string, number>);
  return { ...base, ok: checks.every((c) => c.ok), checks };
}

const REQUIRED = ['dropped_messages', 'ws_resumes', 'resume_failures', 'rtt_p95_ms', 'rtt_samples'];

function missingFields(doc: MetricsDocument): string[] {
  return REQUIRED.filter((f) => typeof doc.ws_metrics?.[f] !== 'number');
}

/** The three runbook checks, from one instance's ws_metrics. */
export function evaluate(ws: Readonly<Record<string, number>>): Check[] {
  const dropped = ws.dropped_messages!;
  const resumes = ws.ws_resumes!;
  const failures = ws.resume_failures!;
  const p95 = ws.rtt_p95_ms!;
  const samples = ws.rtt_samples!;
  const attempts = resumes + failures;
  const rate = attempts === 0 ? null : (resumes / attempts) * 100;
  const rateOk = rate === null || rate > TARGETS.resumeSuccessPercent;
  const rttOk = samples === 0 || p95 <= TARGETS.rttP95Ms;
  const percent = (n: number) => `${Number.isInteger(n) ? n : n.toFixed(1)} %`;
  return [
    {
      name: 'dropped_messages',
      value: dropped,
      target: `= ${TARGETS.droppedMessages}`,
      ok: dropped <= TARGETS.droppedMessages,
      shown: String(dropped),
      ...(dropped > TARGETS.droppedMessages && {
        problem: `${dropped} message${dropped === 1 ? ' was' : 's were'} dropped (dropped_messages = ${dropped}): not a zero-drop operation`,
      }),
    },
    {
      name: 'resume_success_rate',
      value: rate === null ? null : Math.round(rate * 100) / 100,
      ws_resumes: resumes,
      resume_failures: failures,
      target: `> ${TARGETS.resumeSuccessPercent} %`,
      ok: rateOk,
      shown: rate === null ? 'n/a (no resumes)' : `${percent(rate)} (${resumes} of ${attempts})`,
      ...(!rateOk && {
        problem: `resume success rate ${percent(rate!)} (${resumes} of ${attempts}) is not above ${TARGETS.resumeSuccessPercent} %`,
      }),
    },
    {
      name: 'rtt_p95_ms',
      value: samples === 0 ? null : p95,
      rtt_samples: samples,
      target: `<= ${TARGETS.rttP95Ms} ms`,
      ok: rttOk,
      shown: samples === 0 ? 'n/a (no samples)' : `${p95} ms (${samples} samples)`,
      ...(!rttOk && { problem: `RTT p95 ${p95} ms is above ${TARGETS.rttP95Ms} ms` }),
    },
  ];
}

function label(v: InstanceVerdict): string {
  return v.instance ? `${v.instance} (${displayUrl(v.url)})` : displayUrl(v.url);
}

function renderVerdicts(verdicts: readonly InstanceVerdict[]): string {
  const rows: Row[] = [];
  for (const v of verdicts) {
    if (v.error) {
      rows.push([label(v), 'metrics', 'cannot be read', '', 'ERROR']);
      continue;
    }
    v.checks.forEach((c, i) => {
      rows.push([i === 0 ? label(v) : '', c.name, c.shown, c.target, c.ok ? 'OK' : 'MISSED']);
    });
  }
  return renderTable(rows, { header: ['instance', 'check', 'value', 'target', 'result'] });
}
