/**
 * One attacker process of test/abuse.test.ts, forked by attackers.ts with its plan as JSON in argv[2].
 * Once told `go`, it attacks the gateway on 127.0.0.1 for the plan's duration, re-opening whatever the
 * gateway closes or refuses after a random delay, and reports its counts to the parent every half
 * second; then it closes everything, sends a final report and exits. It also exits at once when the
 * parent goes away, or when no `go` comes, so no attacker outlives its test. Runs on import: only
 * ever fork it.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { mintDeviceToken } from '@zerodrop/client';
import WebSocket from 'ws';
import {
  type AttackerCommand,
  type AttackerMessage,
  type AttackPlan,
  bump,
  emptyStats,
  type FlooderPlan,
  type SilentUpgradePlan,
  type SlowlorisPlan,
} from './attack-plan.js';

const REPORT_EVERY_MS = 500;
/** A slowloris client sends one more header line this often (it never sends the blank line). */
const TRICKLE_MS = 2000;

const plan = JSON.parse(process.argv[2]!) as AttackPlan;
const stats = emptyStats(plan.kind);
let running = true;
const open = new Set<{ destroy(): void }>();
const timers = new Set<NodeJS.Timeout>();

const send = (m: AttackerMessage, done?: () => void) => {
  if (process.connected) process.send!(m, () => done?.());
  else done?.();
};

function later(fn: () => void, ms: number): void {
  if (!running) return;
  const t = setTimeout(() => {
    timers.delete(t);
    if (running) fn();
  }, ms);
  timers.add(t);
}

const reopenDelay = () => plan.reopen.minMs + Math.random() * (plan.reopen.maxMs - plan.reopen.minMs);

function holding(delta: number): void {
  stats.holding += delta;
  stats.peakHolding = Math.max(stats.peakHolding, stats.holding);
}

/** Slots take the addresses in blocks: each address opens its share, the first one first. */
const addressOf = (addresses: readonly string[], slot: number, slots: number) =>
  addresses[Math.floor((slot * addresses.length) / slots)]!;

function socketError(err: Error & { code?: string }): void {
  if (running) bump(stats.errors, err.code ?? err.message.slice(0, 40));
}

function tcp(address: string, port: number): Socket {
  const socket = connect({ host: '127.0.0.1', port, localAddress: address });
  const handle = { destroy: () => socket.destroy() };
  open.add(handle);
  socket.once('close', () => open.delete(handle));
  socket.on('error', socketError);
  return socket;
}

/** The gateway's error code in a refusal's JSON body, else the HTTP status. */
function refusalCode(response: string, status: number): string {
  return /"code":"([a-z_]+)"/.exec(response)?.[1] ?? `http_${status}`;
}

function slowloris(p: SlowlorisPlan, slot: number): void {
  stats.attempts++;
  const socket = tcp(addressOf(p.addresses, slot, p.connections), p.port);
  const openedAt = performance.now();
  let connected = false;
  let trickle: NodeJS.Timeout | undefined;
  socket.once('connect', () => {
    connected = true;
    holding(+1);
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${p.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`,
    );
    let n = 0;
    trickle = setInterval(() => socket.write(`X-Slow-${n++}: 1\r\n`), TRICKLE_MS);
  });
  socket.on('data', () => {});
  socket.once('close', () => {
    clearInterval(trickle);
    if (connected) holding(-1);
    if (!running) return;
    if (connected) {
      stats.cut++;
      stats.livedMs.push(Math.round(performance.now() - openedAt));
    }
    later(() => slowloris(p, slot), reopenDelay());
  });
}

async function silentUpgrade(p: SilentUpgradePlan, slot: number): Promise<void> {
  stats.attempts++;
  const token = await mintDeviceToken(p.secret, `mallory-${slot}`);
  if (!running) return;
  const socket = tcp(addressOf(p.addresses, slot, p.connections), p.port);
  let openedAt = 0;
  let head = Buffer.alloc(0);
  let status = 0;
  let frames = Buffer.alloc(0);
  let closeSeen = false;
  socket.once('connect', () =>
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${p.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
        `Authorization: Bearer ${token}\r\n\r\n`,
    ),
  );
  socket.on('data', (chunk: Buffer) => {
    if (status !== 101) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 || status !== 0) return;
      status = Number(head.subarray(9, 12).toString('latin1'));
      if (status !== 101) return;
      stats.upgraded++;
      holding(+1);
      openedAt = performance.now();
      chunk = head.subarray(end + 4);
    }
    // Never a hello: the only frame to expect is the gateway's close (unmasked, code in bytes 2–3).
    frames = Buffer.concat([frames, chunk]);
    if (!closeSeen && frames.length >= 4 && (frames[0]! & 0x0f) === 0x8) {
      closeSeen = true;
      bump(stats.closeCodes, String(frames.readUInt16BE(2)));
      stats.livedMs.push(Math.round(performance.now() - openedAt));
      socket.destroy();
    }
  });
  socket.once('close', () => {
    if (status === 101) holding(-1);
    if (!running) return;
    if (status !== 0 && status !== 101) bump(stats.refused, refusalCode(head.toString('utf8'), status));
    else if (status === 101 && !closeSeen) stats.cut++;
    later(() => void silentUpgrade(p, slot), reopenDelay());
  });
}

async function flood(p: FlooderPlan): Promise<void> {
  stats.attempts++;
  const token = await mintDeviceToken(p.secret, p.deviceId);
  if (!running) return;
  const ws = new WebSocket(`ws://127.0.0.1:${p.port}/ws`, {
    localAddress: p.address,
    headers: { authorization: `Bearer ${token}` },
  });
  const handle = { destroy: () => ws.terminate() };
  open.add(handle);
  let upgraded = false;
  let refused = false;
  let window = 0;
  let next = 1;
  let acked = 0;
  // As fast as the gateway takes them, but within the window the welcome grants: a device that
  // outran its window would be closed for that (4002) before the rate limit had its say.
  const pump = () => {
    for (; window > 0 && next - acked <= window && ws.readyState === WebSocket.OPEN; next++) {
      ws.send(JSON.stringify({ t: 'msg', seq: next, ack: 0, data: { flood: next } }));
      stats.framesSent++;
    }
  };
  ws.on('unexpected-response', (_req, res) => {
    refused = true;
    let body = '';
    res.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    res.on('end', () => {
      if (running) bump(stats.refused, refusalCode(body, res.statusCode ?? 0));
      ws.terminate();
    });
  });
  ws.on('open', () => {
    upgraded = true;
    stats.upgraded++;
    holding(+1);
    ws.send(JSON.stringify({ t: 'hello', v: 1, device: p.deviceId }));
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const frame = JSON.parse(data.toString('utf8')) as {
      t: string;
      ack?: number;
      limits?: { max_unacked: number };
    };
    if (frame.t === 'welcome') {
      stats.welcomes++;
      window = frame.limits?.max_unacked ?? 0;
    } else if (frame.ack !== undefined) acked = Math.max(acked, frame.ack);
    pump();
  });
  ws.on('error', (err: Error & { code?: string }) => {
    if (!refused) socketError(err);
  });
  ws.on('close', (code: number) => {
    open.delete(handle);
    if (upgraded) {
      holding(-1);
      if (running) bump(stats.closeCodes, String(code));
    }
    later(() => void flood(p), reopenDelay());
  });
}

/** Bound on the wait for `go`: an attacker whose test went away without a word ends anyway. */
const GO_TIMEOUT_MS = 60_000;
let reporter: NodeJS.Timeout | undefined;

function stop(): void {
  if (!running) return;
  running = false;
  clearInterval(reporter);
  for (const t of timers) clearTimeout(t);
  for (const s of [...open]) s.destroy();
  send({ type: 'report', final: true, stats }, () => process.exit(0));
}

function attack(): void {
  reporter = setInterval(() => send({ type: 'report', final: false, stats }), REPORT_EVERY_MS);
  setTimeout(stop, plan.durationMs);
  if (plan.kind === 'flooder') {
    void flood(plan);
    return;
  }
  for (let slot = 0; slot < plan.connections; slot++) {
    const at = (slot / plan.connections) * plan.rampMs;
    if (plan.kind === 'slowloris') later(() => slowloris(plan, slot), at);
    else later(() => void silentUpgrade(plan, slot), at);
  }
}

// Loaded and ready, the attack starts on `go`: the parent starts it when it chooses, not while this
// process is still compiling (which costs the machine CPU the honest devices would be blamed for).
process.on('disconnect', () => process.exit(0));
const giveUp = setTimeout(() => process.exit(0), GO_TIMEOUT_MS);
process.on('message', (m: AttackerCommand) => {
  if (m.type !== 'go' || reporter !== undefined) return;
  clearTimeout(giveUp);
  attack();
});
send({ type: 'ready', pid: process.pid });
