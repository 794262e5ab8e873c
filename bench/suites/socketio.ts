/**
 * Target 6, against Socket.IO: the same three workloads, in the same run, against the gateway with the
 * Redis store (device SDK) and against Socket.IO 4.8 with connection state recovery and the Redis
 * Streams adapter on its own private `redis-server` (socket.io-client, WebSocket transport, one
 * connection per device), in this order: the paced latency workload at 1,000 devices
 * (suites/latency.ts, a 5 s window), closed-loop echo throughput (the throughput suite's scenario,
 * scenario.ts), and the forced-disconnect resume with a 100-message backlog (suites/resume.ts, 100
 * devices: see below).
 * Each row is zerodrop ÷ Socket.IO: above 1 for messages/s, below 1 for times, is where we aim to be.
 *
 * What each side guarantees in the measured configuration (also printed with the results):
 * - zerodrop, device→server: the SDK keeps every message until the gateway acknowledges it, which it
 *   does once the handler finished and the processed mark is in Redis; after a reconnect the SDK sends
 *   the unacknowledged ones again and the gateway drops repeats by sequence number: exactly once, in
 *   order, across disconnects, for the resume TTL (15 min).
 * - zerodrop, server→device: `gateway.send` resolves once the message is in Redis; it is written, kept
 *   until the SDK acknowledges it, and replayed after a reconnect: exactly once, in order, for the
 *   resume TTL, at most 200 unacknowledged per session (`send` refuses beyond).
 * - Socket.IO, device→server: each emit carries an ack callback, called by the handler when it is done,
 *   so the device learns its packet was handled; nothing sends again a packet lost with its connection
 *   (socket.io-client's `retries`, which would, is off: it allows one packet in flight per socket):
 *   at most once.
 * - Socket.IO, server→device: each emit is appended to the Redis stream (`XADD`) before it is written;
 *   a device that comes back within 2 min with its last offset gets every later packet of its rooms
 *   replayed, in order. The device acknowledges nothing: if the recovery fails (session expired, offset
 *   trimmed from the stream), the client gets a new session (`recovered` false) and the missed packets
 *   are gone without an error. The stream is sized (MAXLEN 2,000,000) so that no run trims it.
 * Socket.IO measures no RTT of its own (engine.io's heartbeat is not timed), so there is no RTT row.
 *
 * Two things about Socket.IO's recovery that the resume figures show. A client resumes from the offset
 * of the last packet it received, so one that has received nothing cannot recover: the application
 * greets every new connection with one packet (socketio-server.ts), as the gateway's welcome does for
 * the SDK. And the Redis Streams adapter restores a session by reading the stream from that offset to
 * its end (`XRANGE <offset> +`) and keeping the packets of the session's rooms: each device's recovery
 * reads everything queued for the whole fleet since it left.
 */
import { runLatencyScenario } from '../latency-scenario.js';
import { runResumeScenario } from '../resume-scenario.js';
import { runScenario, type ScenarioResult } from '../scenario.js';
import { ServerSet, type ServerUnderTest } from '../servers.js';
import { markdownTable, row, type SuiteContext, type SuiteResult, type TargetRow } from '../suite.js';
import { latencyGatewayEnv, latencyScale, latencyTables, workersFor } from './latency.js';
import { resumeScale, resumeTables } from './resume.js';

export const GUARANTEES = [
  'What each side guarantees as measured:',
  'zerodrop device→server: held by the SDK until acked after the handler and the Redis write; resent ' +
    'after a reconnect, repeats dropped: exactly once, in order, within the 15 min resume TTL.',
  'zerodrop server→device: in Redis before it is written, kept until the SDK acks it, replayed after a ' +
    'reconnect: exactly once, in order, within the resume TTL (≤ 200 unacked per session).',
  'Socket.IO device→server: acked by the handler, never resent if lost with a connection (no `retries`): ' +
    'at most once.',
  'Socket.IO server→device: XADDed to the Redis stream before it is written, replayed from the device’s ' +
    'last offset if it comes back within 2 min; no device ack: lost without an error if recovery fails.',
].join('\n  ');

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const int = (v: number) => Math.round(v).toLocaleString('en-US');

function throughputTable(results: readonly ScenarioResult[]): string {
  return markdownTable(
    [
      ['server', 'left'],
      ['conns', 'right'],
      ['msgs/s', 'right'],
      ['p50 ms', 'right'],
      ['p99 ms', 'right'],
      ['server CPU', 'right'],
      ['redis CPU', 'right'],
      ['load CPU', 'right'],
      ['other CPU', 'right'],
      ['sent', 'right'],
      ['lost', 'right'],
      ['dup', 'right'],
    ],
    results.map((s) => [
      s.label,
      int(s.connections),
      int(s.messagesPerSec),
      ms(s.p50Ms),
      ms(s.p99Ms),
      `${Math.round(s.serverCpuPct)}%`,
      s.redisCpuPct === undefined ? '—' : `${Math.round(s.redisCpuPct)}%`,
      `${Math.round(s.loadCpuPct)}%`,
      s.otherCpuPct === undefined ? '—' : `${Math.round(s.otherCpuPct)}%`,
      int(s.sent),
      int(s.missing),
      int(s.duplicates),
    ]),
  );
}

interface Pair<T> {
  readonly zerodrop: T;
  readonly socketio: T;
}

/** Run `scenario` against the gateway, then Socket.IO. */
async function both<T>(
  ctx: SuiteContext,
  servers: Pair<ServerUnderTest>,
  scenario: (server: ServerUnderTest) => Promise<T>,
): Promise<Pair<T>> {
  ctx.signal.throwIfAborted();
  const zerodrop = await scenario(servers.zerodrop);
  ctx.signal.throwIfAborted();
  const socketio = await scenario(servers.socketio);
  return { zerodrop, socketio };
}

export async function socketioSuite(ctx: SuiteContext): Promise<SuiteResult> {
  const { options } = ctx;
  const judged = !options.quick;
  const connections = Math.max(...options.connections);
  // The paced workload of the latency suite with a shorter window (still 25,000 samples each way at
  // full scale), so that the three comparisons fit the suite's time.
  const latency = {
    ...latencyScale(options.quick),
    ...(options.quick ? {} : { warmupMs: 1_000, durationMs: 5_000 }),
  };
  // The resume suite's workload with half the fleet at full scale, at the same rate (100 devices a
  // second): each Socket.IO recovery reads the backlog of every device, so its time grows with the
  // square of the fleet. At 200 devices Socket.IO took 25–28 s to recover them on the 2-core bench
  // machine: close to the 30 s after which a message counts as lost, and past this suite's time.
  const resume = options.quick ? resumeScale(true) : { ...resumeScale(false), devices: 100, spreadMs: 1_000 };
  const set = new ServerSet();
  const stop = () => void set.stop();
  ctx.signal.addEventListener('abort', stop, { once: true });
  let throughput: Pair<ScenarioResult>;
  let paced: Pair<Awaited<ReturnType<typeof runLatencyScenario>>>;
  let resumed: Pair<Awaited<ReturnType<typeof runResumeScenario>>>;
  try {
    await set.start(['redis', 'socketio'], options.cpuProfDir, latencyGatewayEnv(latency));
    const servers = { zerodrop: set.servers[0]!, socketio: set.servers[1]! };
    const id = (server: ServerUnderTest, what: string) => `bench-${ctx.runId}-vs-${what}-${server.kind}`;

    // Paced first, on processes that have run nothing yet: a saturating echo before it would leave
    // each server's heap to be collected during the latency window.
    paced = await both(ctx, servers, (s) =>
      runLatencyScenario(s, {
        devices: latency.devices,
        ratePerSec: latency.ratePerSec,
        warmupMs: latency.warmupMs,
        durationMs: latency.durationMs,
        workers: workersFor(ctx),
        pingEveryMs: latency.heartbeatMs,
        idPrefix: id(s, 'paced'),
      }),
    );
    ctx.progress(
      `  paced, ${latency.devices} devices: dev→app p99 ${ms(paced.zerodrop.deviceToApp.p99)} ms against ` +
        `${ms(paced.socketio.deviceToApp.p99)} ms, app→dev p99 ${ms(paced.zerodrop.appToDevice.p99)} ms ` +
        `against ${ms(paced.socketio.appToDevice.p99)} ms`,
    );
    throughput = await both(ctx, servers, (s) =>
      runScenario(s, connections, options, id(s, `echo-${connections}`)),
    );
    ctx.progress(
      `  echo, ${connections} connections: ${int(throughput.zerodrop.messagesPerSec)} msgs/s against ` +
        `${int(throughput.socketio.messagesPerSec)} msgs/s`,
    );
    resumed = await both(ctx, servers, (s) =>
      runResumeScenario(s, { ...resume, workers: workersFor(ctx), idPrefix: id(s, 'resume') }),
    );
    ctx.progress(
      `  resume, ${resume.devices} devices × ${resume.backlog}: p99 ${ms(resumed.zerodrop.dialToCaughtUp.p99)} ` +
        `ms against ${ms(resumed.socketio.dialToCaughtUp.p99)} ms (${resumed.socketio.recovered} of ` +
        `${resume.devices} recovered)`,
    );
  } finally {
    ctx.signal.removeEventListener('abort', stop);
    await set.stop();
  }

  const vs = (label: string, value: number) => ({ label: `Socket.IO ${label}`, value });
  const latencyWhat = `${latency.devices.toLocaleString('en-US')} sessions × ${latency.ratePerSec}/s`;
  const targets: TargetRow[] = [
    row(
      {
        target: '6. vs Socket.IO',
        figure: `echo msgs/s each way, ${connections.toLocaleString('en-US')} conns (zerodrop ÷ Socket.IO)`,
        measured: throughput.zerodrop.messagesPerSec,
        unit: 'msgs/s',
        goal: 'ahead (ratio ≥ 1)',
        baseline: vs('echo', throughput.socketio.messagesPerSec),
      },
      { minRatio: 1, judged },
    ),
    row(
      {
        target: '6. vs Socket.IO',
        figure: `delivery p99 device→app, ${latencyWhat} (zerodrop ÷ Socket.IO)`,
        measured: paced.zerodrop.deviceToApp.p99,
        unit: 'ms',
        goal: 'ahead (ratio ≤ 1)',
        baseline: vs('device→app p99', paced.socketio.deviceToApp.p99),
      },
      { maxRatio: 1, judged },
    ),
    row(
      {
        target: '6. vs Socket.IO',
        figure: `delivery p99 app→device, ${latencyWhat} (zerodrop ÷ Socket.IO)`,
        measured: paced.zerodrop.appToDevice.p99,
        unit: 'ms',
        goal: 'ahead (ratio ≤ 1)',
        baseline: vs('app→device p99', paced.socketio.appToDevice.p99),
      },
      { maxRatio: 1, judged },
    ),
    row(
      {
        target: '6. vs Socket.IO',
        figure: `reconnect → caught up p99, ${resume.devices} devices × ${resume.backlog} (zerodrop ÷ Socket.IO)`,
        measured: resumed.zerodrop.dialToCaughtUp.p99,
        unit: 'ms',
        goal: 'ahead (ratio ≤ 1)',
        baseline: vs('recovery p99', resumed.socketio.dialToCaughtUp.p99),
      },
      { maxRatio: 1, judged },
    ),
  ];
  const pairs = [throughput, paced, resumed];
  return {
    suite: 'socketio',
    targets,
    ok: pairs.every((p) => p.zerodrop.ok && p.socketio.ok),
    text: [
      GUARANTEES,
      `Echo (closed loop, ${options.window} in flight per connection, ${options.durationS} s measured):`,
      throughputTable([throughput.zerodrop, throughput.socketio]),
      `Paced, ${latencyWhat} (open loop):`,
      ...latencyTables([paced.zerodrop, paced.socketio]),
      `Resume, ${resume.devices} devices cut, ${resume.backlog} messages queued each, back over ` +
        `${resume.spreadMs / 1000} s. Socket.IO's Redis Streams adapter restores a session by reading ` +
        'the stream from the device’s last offset to its end and keeping its rooms’ packets: each ' +
        `recovery reads the backlog of all ${resume.devices} devices.`,
      ...resumeTables([resumed.zerodrop, resumed.socketio]),
    ],
    data: {
      connections,
      latencyScale: latency,
      resumeScale: resume,
      throughput: [throughput.zerodrop, throughput.socketio],
      latency: [paced.zerodrop, paced.socketio],
      resume: [resumed.zerodrop, resumed.socketio],
    },
  };
}
