/**
 * Every metric the gateway exposes, by name, in one place. The names are the runbook's contract: its
 * `jq` paths read `ws_metrics.<name>` from `GET /api/v1/esp32/metrics`, and its PromQL reads the same
 * names from `GET /metrics`. Label values come from fixed sets (reasons, codes), never from devices.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RESUME_FAILURE_REASONS, type ResumeFailureReason } from '@zerodrop/protocol';
import { AUTH_FAILURE_REASONS } from './auth.js';
import { MetricsRegistry } from './metrics-registry.js';
import { RttWindow } from './rtt-window.js';

/** Why an upgrade was refused before it became a WebSocket. */
export const UPGRADE_REJECT_REASONS = [
  'over_capacity',
  'draining',
  'not_found',
  'bad_request',
  'unauthorized',
  'too_many_pending',
  'too_many_from_address',
  'origin_not_allowed',
] as const;
export type UpgradeRejectReason = (typeof UPGRADE_REJECT_REASONS)[number];

export type Direction = 'device_to_server' | 'server_to_device';

/** Frozen label sets of the per-message counters (their series keys are computed once). */
export const DEVICE_TO_SERVER = Object.freeze({ direction: 'device_to_server' });
export const SERVER_TO_DEVICE = Object.freeze({ direction: 'server_to_device' });

export function createGatewayMetrics(options: {
  connections: () => number;
  sessions: () => number;
  storeUp: () => number;
  storePendingWrites: () => number;
}) {
  const registry = new MetricsRegistry();
  const rtt = new RttWindow();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

  const m = {
    registry,
    rtt,
    ws_active: registry.gauge(
      'ws_active',
      'Open device WebSocket connections on this instance.',
      options.connections,
    ),
    ws_sessions: registry.gauge('ws_sessions', 'Sessions held live on this instance.', options.sessions),
    ws_connections_total: registry.counter('ws_connections_total', 'WebSocket upgrades accepted.'),
    ws_reconnects: registry.counter(
      'ws_reconnects',
      'Handshakes in which a device asked to resume a session.',
    ),
    ws_resumes: registry.counter('ws_resumes', 'Resume attempts that resumed the session.'),
    resume_failures: registry.counter('resume_failures', 'Resume attempts answered fresh, by reason.'),
    dropped_messages: registry.counter(
      'dropped_messages',
      'Accepted messages that can no longer be delivered (expired unacknowledged, or refused by the handler).',
    ),
    ws_upgrades_blocked_during_drain: registry.counter(
      'ws_upgrades_blocked_during_drain',
      'WebSocket upgrades refused because the instance was draining.',
    ),
    ws_upgrades_rejected_total: registry.counter(
      'ws_upgrades_rejected_total',
      'WebSocket upgrades refused, by reason.',
    ),
    ws_messages_total: registry.counter('ws_messages_total', 'Application messages delivered, by direction.'),
    ws_duplicates_dropped_total: registry.counter(
      'ws_duplicates_dropped_total',
      'Device→server messages received again after a replay and dropped as duplicates.',
    ),
    ws_protocol_errors_total: registry.counter(
      'ws_protocol_errors_total',
      'Bad frames from devices, by error code.',
    ),
    ws_closes_total: registry.counter(
      'ws_closes_total',
      'Connections closed by the gateway, by reason code.',
    ),
    ws_auth_failures_total: registry.counter(
      'ws_auth_failures_total',
      'Device upgrades refused by authentication, by reason (clock_skew/expired point at clocks, bad_signature at secrets or attacks).',
    ),
    ws_rate_limited_total: registry.counter(
      'ws_rate_limited_total',
      'Devices closed for sending too many frames per second.',
    ),
    admin_auth_failures_total: registry.counter(
      'admin_auth_failures_total',
      'Failed authentications on the admin and push APIs (rate-limited per address).',
    ),
    ws_handler_errors_total: registry.counter('ws_handler_errors_total', 'Application handler rejections.'),
    ws_buffer_full_total: registry.counter(
      'ws_buffer_full_total',
      'Sends refused because the session buffer was full.',
    ),
    ws_dead_letters_total: registry.counter(
      'ws_dead_letters_total',
      'Messages handed to the dead-letter hook.',
    ),
    resume_store_writebacks_total: registry.counter(
      'resume_store_writebacks_total',
      'Sessions written back whole after the resume store lost its data.',
    ),
    ws_sessions_expired_total: registry.counter(
      'ws_sessions_expired_total',
      'Sessions that expired in the store.',
    ),
    ws_rtt_seconds: registry.histogram(
      'ws_rtt_seconds',
      'Application-level ping round-trip time measured by the gateway.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.3, 0.5, 1, 2.5, 5],
    ),
    rtt_p95_ms: registry.gauge(
      'rtt_p95_ms',
      'p95 of the recent RTT window, in milliseconds.',
      () => rtt.percentiles(95)[0]!,
    ),
    eventloop_lag_p99_ms: registry.gauge(
      'zerodrop_eventloop_lag_p99_ms',
      'Event-loop delay p99 (ms).',
      () => Math.round(loopDelay.percentile(99) / 1e4) / 100,
    ),
    process_resident_memory_bytes: registry.gauge(
      'process_resident_memory_bytes',
      'Resident memory of the gateway process.',
      () => process.memoryUsage.rss(),
    ),
    zerodrop_drain_state: registry.gauge(
      'zerodrop_drain_state',
      'Drain state of this instance: 1 for the current state (serving, draining or drained), 0 for the others.',
    ),
    resume_store_up: registry.gauge(
      'resume_store_up',
      '1 when the resume store answers and nothing waits to be written, else 0 (degraded).',
      options.storeUp,
    ),
    resume_store_pending_writes: registry.gauge(
      'resume_store_pending_writes',
      'Store writes waiting (in flight, or kept in order while Redis is away).',
      options.storePendingWrites,
    ),
    stopLoopMonitor: () => loopDelay.disable(),
  };
  for (const reason of RESUME_FAILURE_REASONS) m.resume_failures.init({ reason });
  for (const reason of UPGRADE_REJECT_REASONS) m.ws_upgrades_rejected_total.init({ reason });
  for (const reason of AUTH_FAILURE_REASONS) m.ws_auth_failures_total.init({ reason });
  setDrainState(m, 'serving');
  m.ws_messages_total.init({ direction: 'device_to_server' });
  m.ws_messages_total.init({ direction: 'server_to_device' });
  return m;
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

export function setDrainState(m: Pick<GatewayMetrics, 'zerodrop_drain_state'>, current: string): void {
  for (const state of ['serving', 'draining', 'drained'])
    m.zerodrop_drain_state.set(state === current ? 1 : 0, { state });
}

export function countResumeFailure(m: GatewayMetrics, reason: ResumeFailureReason): void {
  m.resume_failures.inc(1, { reason });
}

export function observeRtt(m: GatewayMetrics, ms: number): void {
  m.rtt.add(ms);
  m.ws_rtt_seconds.observe(ms / 1000);
}

/** The runbook's `ws_metrics` object. */
export function wsMetricsJson(m: GatewayMetrics) {
  const [p50, p95, p99] = m.rtt.percentiles(50, 95, 99);
  return {
    ws_active: m.ws_active.get(),
    ws_sessions: m.ws_sessions.get(),
    ws_connections_total: m.ws_connections_total.total(),
    ws_reconnects: m.ws_reconnects.total(),
    ws_resumes: m.ws_resumes.total(),
    resume_failures: m.resume_failures.total(),
    resume_failures_by_reason: m.resume_failures.byLabel('reason'),
    dropped_messages: m.dropped_messages.total(),
    rtt_p50_ms: p50,
    rtt_p95_ms: p95,
    rtt_p99_ms: p99,
    rtt_samples: m.rtt.size,
    ws_upgrades_blocked_during_drain: m.ws_upgrades_blocked_during_drain.total(),
    ws_upgrades_rejected: m.ws_upgrades_rejected_total.byLabel('reason'),
    auth_failures: m.ws_auth_failures_total.byLabel('reason'),
    rate_limited: m.ws_rate_limited_total.total(),
    messages_device_to_server: m.ws_messages_total.get({ direction: 'device_to_server' }),
    messages_server_to_device: m.ws_messages_total.get({ direction: 'server_to_device' }),
    duplicates_dropped: m.ws_duplicates_dropped_total.total(),
    protocol_errors: m.ws_protocol_errors_total.byLabel('code'),
    handler_errors: m.ws_handler_errors_total.total(),
    buffer_full: m.ws_buffer_full_total.total(),
    dead_letters: m.ws_dead_letters_total.total(),
    sessions_expired: m.ws_sessions_expired_total.total(),
    eventloop_lag_p99_ms: m.eventloop_lag_p99_ms.get(),
  };
}
