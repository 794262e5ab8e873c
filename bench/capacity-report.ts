/**
 * The capacity suite's tables and lines: memory per session for the gateway and the raw `ws` baseline
 * with the ratio between them, the hold (heartbeats only) and the trickle windows, the limits the run
 * depended on, and the projection to 100,000 sessions per instance.
 */

import type { CapacityPhase } from './capacity-phase.js';
import { markdownTable } from './suite.js';
import type { CapacityData } from './suites/capacity.js';

const MB = 1024 * 1024;
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const mb = (bytes: number) => (bytes / MB).toFixed(1);
const kb = (v: number) => v.toFixed(2);
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const pct = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v)}%`);
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '—');
const limit = (l: { soft: number; hard: number } | undefined) =>
  l ? `${int(l.soft)} / ${int(l.hard)}` : '—';

function memoryTable(phases: readonly CapacityPhase[], raw: CapacityPhase): string {
  return markdownTable(
    [
      ['server', 'left'],
      ['asked', 'right'],
      ['reached', 'right'],
      ['ramp s', 'right'],
      ['idle RSS MB', 'right'],
      ['held RSS MB', 'right'],
      ['RSS/session KB', 'right'],
      ['÷ raw', 'right'],
      ['young gen. growth MB', 'right'],
      ['RSS/session less young gen. KB', 'right'],
      ['heap/session KB', 'right'],
      ['÷ raw', 'right'],
      ['full GC ms', 'right'],
      ['open fds', 'right'],
    ],
    phases.map((p) => [
      p.label,
      int(p.requested),
      int(p.reached),
      (p.rampMs / 1000).toFixed(1),
      mb(p.idle.rss),
      mb(p.after.rss),
      kb(p.rssPerSessionKB),
      ratio(p.rssPerSessionKB, raw.rssPerSessionKB),
      mb(p.youngGrowthBytes),
      kb(p.rssPerSessionLessYoungKB),
      kb(p.heapPerSessionKB),
      ratio(p.heapPerSessionKB, raw.heapPerSessionKB),
      ms(p.after.gcMs),
      p.loaded.openFds === undefined ? '—' : int(p.loaded.openFds),
    ]),
  );
}

function windowTable(phases: readonly CapacityPhase[], raw: CapacityPhase): string {
  const loop = (w: CapacityPhase['hold']) =>
    `${ms(w.loopDelayMs.p50)} / ${ms(w.loopDelayMs.p99)} / ${ms(w.loopDelayMs.max)}`;
  return markdownTable(
    [
      ['server', 'left'],
      ['window', 'left'],
      ['s', 'right'],
      ['heartbeats/s', 'right'],
      ['loop delay p50 / p99 / max ms', 'right'],
      ['p99 ÷ raw', 'right'],
      ['wait p99 (time-weighted) ms', 'right'],
      ['loop behind', 'right'],
      ['server CPU', 'right'],
      ['µs CPU per heartbeat', 'right'],
      ['redis CPU', 'right'],
      ['rest of machine CPU', 'right'],
      ['load avg (1 min)', 'right'],
    ],
    phases.flatMap((p) => [
      [
        p.label,
        'hold',
        (p.hold.ms / 1000).toFixed(1),
        int(p.hold.pongs / (p.hold.ms / 1000)),
        loop(p.hold),
        ratio(p.hold.loopDelayMs.p99, raw.hold.loopDelayMs.p99),
        ms(p.hold.loopWait.p99Ms),
        pct(p.hold.loopWait.behindPct),
        pct(p.holdCpuPct),
        p.cpuUsPerHeartbeat.toFixed(1),
        pct(p.redisCpuPct),
        pct(p.restOfMachineCpuPct),
        p.loadAverage.toFixed(2),
      ],
      [
        p.label,
        'trickle',
        (p.trickle.ms / 1000).toFixed(1),
        int(p.trickle.pongs / (p.trickle.ms / 1000)),
        loop(p.trickle),
        ratio(p.trickle.loopDelayMs.p99, raw.trickle.loopDelayMs.p99),
        ms(p.trickle.loopWait.p99Ms),
        pct(p.trickle.loopWait.behindPct),
        pct(p.trickleCpuPct),
        '—',
        '—',
        '—',
        '—',
      ],
    ]),
  );
}

function messageLines(phases: readonly CapacityPhase[]): string[] {
  return phases.map((p) => {
    const m = p.messages;
    const verdict = m.missing + m.duplicates === 0 ? 'ok' : 'FAILED';
    const extra = [
      m.reconnects > 0 ? `${int(m.reconnects)} reconnects` : '',
      m.errors > 0 ? `${int(m.errors)} connection errors (first: ${m.firstError})` : '',
      p.trickle.storeLatencyMs
        ? `store p50 ${ms(p.trickle.storeLatencyMs.p50)} ms, p99 ${ms(p.trickle.storeLatencyMs.p99)} ms`
        : '',
    ].filter(Boolean);
    return (
      `${verdict.padEnd(6)} ${p.label}: sent ${int(m.sent)}, echoed ${int(m.echoed)}, lost ${int(m.missing)}, ` +
      `duplicated ${int(m.duplicates)}` +
      (extra.length > 0 ? `; ${extra.join(', ')}` : '')
    );
  });
}

function limitLines(data: CapacityData): string[] {
  const { gateway, kernel } = data;
  const ports = kernel.localPorts;
  return [
    `Open-files limit (soft / hard): gateway ${limit(gateway.idle.fileLimit)}, each load worker ` +
      `${limit(gateway.workerFileLimit)}; every child is started through sh, which raises its soft limit to the hard one.`,
    `Kernel: somaxconn ${kernel.somaxconn ?? '—'}, tcp_max_syn_backlog ${kernel.tcpMaxSynBacklog ?? '—'}, ` +
      `local ports ${ports ? `${ports.from}–${ports.to} (${int(ports.to - ports.from + 1)} per source address and destination)` : '—'}, ` +
      `nr_open ${kernel.nrOpen === undefined ? '—' : int(kernel.nrOpen)}.`,
    ...(gateway.redis
      ? [
          `Redis: ${int(gateway.redis.bytesPerSession)} bytes and ${gateway.redis.keysPerSession.toFixed(1)} keys per ` +
            `session (used_memory ${mb(gateway.redis.usedMemoryIdle)} → ${mb(gateway.redis.usedMemoryLoaded)} MB).`,
        ]
      : []),
  ];
}

function projectionLines(data: CapacityData): string[] {
  const p = data.projection;
  return [
    `At ${int(p.sessions)} sessions per instance (linear in this run's cost per session, the young ` +
      `generation's growth counted once): RSS ${mb(p.rssBytes)} MB, ` +
      `JS heap ${mb(p.heapBytes)} MB (V8 limit here ${mb(data.gateway.idle.heapLimit)} MB` +
      `${p.heapOverLimit ? ': raise --max-old-space-size' : ''}), a forced full GC of about ${ms(p.fullGcMs)} ms, ` +
      `${int(p.fds)} file descriptors, ` +
      `${p.sourceAddresses ?? '—'} client source addresses (or listening ports) at ${p.portsPerSourceAddress === undefined ? '—' : int(p.portsPerSourceAddress)} ports each, ` +
      `${int(p.heartbeatsPerSecond)} heartbeats/s at ${data.heartbeatMs / 1000} s costing ${Math.round(p.heartbeatCpuPct)}% of one core, ` +
      `Redis ${p.redisBytes === undefined ? '—' : `${mb(p.redisBytes)} MB`}.`,
  ];
}

export function capacityText(data: CapacityData): string[] {
  const phases = [data.raw, data.gateway];
  return [
    `${int(data.sessions)} connections from ${data.workers} load workers, heartbeat ${data.heartbeatMs / 1000} s ` +
      `(gateway: ZERODROP_HEARTBEAT; raw ws: ws pings), ${data.holdMs / 1000} s hold with heartbeats only, then ` +
      `${data.trickleMs / 1000} s with ${data.trickleMessagesPerSessionPerMinute} message(s) per session per minute. ` +
      'Memory after a full GC; KB = 1,024 bytes. Loop delay: monitorEventLoopDelay, one sample per 5 ms tick ' +
      '(the tick subtracted); wait p99: the same loop weighted by time, what 1 % of moments waited; ' +
      'loop behind: share of the window the loop ran late.',
    memoryTable(phases, data.raw),
    windowTable(phases, data.raw),
    ['Trickle (every message echoed exactly once):', ...messageLines(phases)].join('\n  '),
    [...limitLines(data), ...projectionLines(data)].join('\n'),
  ];
}
