/**
 * `zerodrop metrics`: the runbook's `ws_metrics` and `resume_store_metrics` as a table, one column per
 * instance (`--url` may be repeated), once or every few seconds with `--watch`. The gateway computes
 * every figure; this command only lays them out (or prints the JSON as received with `--json`).
 */
import { expectNoPositionals, parseArgs, parseCount, parseSeconds, wantsHelp } from '../args.js';
import { UsageError } from '../cli-error.js';
import { fetchMetrics, type MetricsResult } from '../gateway-metrics.js';
import {
  displayUrl,
  gatewayUrls,
  MULTI_GATEWAY_OPTIONS,
  OPTION_HELP,
  timeoutMs,
} from '../gateway-options.js';
import { formatValue, type Row, renderTable } from '../table.js';
import { interruptOnSigint, pause, printRefresh } from '../watch.js';

const COMMAND = 'metrics';
const DEFAULT_WATCH_S = 2;
const MIN_WATCH_S = 0.1;
const SECTIONS = ['ws_metrics', 'resume_store_metrics'] as const;

const HELP = `Usage: zerodrop metrics [--watch [seconds]] [--count <n>] [options]

Prints the gateway's metrics (GET /api/v1/esp32/metrics): ws_metrics (ws_active, dropped_messages,
ws_resumes, resume_failures, rtt_p95_ms, …) and resume_store_metrics (kind, status, pending_writes,
errors, …). Repeat --url to show several instances side by side.

${OPTION_HELP.urls}
  --watch [s]        refresh every s seconds (default ${DEFAULT_WATCH_S}) until Ctrl-C (exit 0)
  --count <n>        with --watch: stop after n refreshes
${OPTION_HELP.timeout}
${OPTION_HELP.json}
${OPTION_HELP.help}

With --json every answer is printed as received, one JSON document per line (per instance, per
refresh). Exit code 1 when an instance could not be read (in the last refresh with --watch).`;

export async function metricsCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(
    argv,
    { ...MULTI_GATEWAY_OPTIONS, watch: { kind: 'optional-value' }, count: { kind: 'value' } },
    COMMAND,
  );
  expectNoPositionals(args, COMMAND);
  const urls = gatewayUrls(args, process.env, COMMAND);
  const timeout = timeoutMs(args, COMMAND);
  const json = args.has('json');
  const watch = args.value('watch');
  const countRaw = args.value('count');
  if (watch === undefined) {
    if (countRaw !== undefined) throw new UsageError('--count only applies with --watch', COMMAND);
    return report(await fetchMetrics(urls, timeout), json, undefined);
  }
  const everyS = watch === '' ? DEFAULT_WATCH_S : parseSeconds(watch, 'watch', COMMAND, MIN_WATCH_S);
  const count = countRaw === undefined ? Number.POSITIVE_INFINITY : parseCount(countRaw, 'count', COMMAND, 1);

  const interrupt = interruptOnSigint();
  let code = 0;
  try {
    for (let i = 1; i <= count; i++) {
      if (i > 1) await pause(everyS * 1000, interrupt.signal);
      if (interrupt.signal.aborted) break;
      const results = await fetchMetrics(urls, timeout, interrupt.signal).catch((err: unknown) => {
        if (interrupt.signal.aborted) return undefined;
        throw err;
      });
      if (!results) break;
      const footer = `refresh ${i}${Number.isFinite(count) ? ` of ${count}` : ''}, every ${everyS} s; Ctrl-C stops`;
      code = report(results, json, { first: i === 1, footer });
    }
  } finally {
    interrupt.dispose();
  }
  return code;
}

/** Print one round of results; returns 1 if an instance could not be read. */
function report(
  results: readonly MetricsResult[],
  json: boolean,
  watch: { first: boolean; footer: string } | undefined,
): number {
  const errors = results.flatMap((r) => (r.ok ? [] : [`zerodrop: ${r.error.message}`]));
  if (json) {
    for (const r of results) if (r.ok) console.log(r.response.text);
    for (const e of errors) console.error(e);
  } else {
    const answered = results.filter((r) => r.ok);
    const blocks = answered.length > 0 ? [renderMetrics(answered)] : [];
    if (watch) {
      // Errors belong to this refresh: keep them in the block a terminal redraws.
      printRefresh([...blocks, ...errors, `\n${watch.footer}`].join('\n'), watch.first);
    } else {
      if (blocks.length > 0) console.log(blocks[0]);
      for (const e of errors) console.error(e);
    }
  }
  return errors.length > 0 ? 1 : 0;
}

function renderMetrics(results: readonly Extract<MetricsResult, { ok: true }>[]): string {
  const docs = results.map((r) => r.response.body);
  const rows: Row[] = [
    ['url', ...results.map((r) => displayUrl(r.url))],
    ['timestamp', ...docs.map((d) => formatValue(d.timestamp))],
  ];
  for (const section of SECTIONS) {
    rows.push({ section });
    // Every field any instance reported, in the order the gateway sends them.
    const fields = [...new Set(docs.flatMap((d) => Object.keys(d[section] ?? {})))];
    for (const field of fields)
      rows.push([`  ${field}`, ...docs.map((d) => formatValue(d[section]?.[field]))]);
  }
  return renderTable(rows, { header: ['instance', ...docs.map((d) => d.instance ?? '?')] });
}
