/**
 * What one session write costs Redis itself, through the Redis store's batched path: `sessions`
 * sessions on a private `redis-server` (started here on a free loopback port, stopped by PID), then
 * `rounds` turns in which every session appends `per` messages, each carrying its progress (the ack
 * of the previous one and a processed mark), as an echo's reply does. Reported: Redis's CPU time per
 * write (from /proc, user + system) and the wall time per write, for the writes of a session issued
 * one after the other (a device's replies of one pass) and interleaved with the other sessions'.
 *
 *   node --conditions=source --import tsx bench/redis-write-cost.ts [--sessions 1000] [--rounds 60] [--per 4]
 *
 * Not part of `npm run bench`: a probe of the store's Lua, for changes to it. Linux only (/proc).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Payload } from '@zerodrop/protocol';
import { RedisResumeStore } from '../packages/server/src/store/redis-store.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '60' },
    per: { type: 'string', default: '4' },
  },
});
const count = (name: string, raw: string, max: number): number => {
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 1 && n <= max) return n;
  console.error(`redis-write-cost: --${name} must be an integer in 1..${max}, not "${raw}"`);
  process.exit(2);
};
const sessions = count('sessions', values.sessions, 20_000);
const rounds = count('rounds', values.rounds, 1_000);
const per = count('per', values.per, 100);

/** CPU time (µs) the process has used, from /proc/PID/stat (clock ticks of 10 ms). */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const payload: Payload = { kind: 'json', json: JSON.stringify({ t: 12345.678, n: 42 }) };
const redis = await RedisProcess.start();
const redisPid = redis.pid;
try {
  if (redisPid === undefined) throw new Error('redis-server started without a PID');
  for (const order of ['adjacent', 'interleaved'] as const) {
    const store = new RedisResumeStore({
      url: redis.url,
      keyPrefix: `cost-${order}:`,
      ttlMs: 900_000,
      tombstoneTtlMs: 60_000,
      instanceId: 'cost',
    });
    await store.open();
    try {
      const ids = Array.from({ length: sessions }, (_, i) => `s_cost_${order}_${i}`);
      for (const [i, sessionId] of ids.entries()) {
        await store.createSession({
          sessionId,
          deviceId: `d-${order}-${i}`,
          epoch: 'e.1',
          tokenHash: 'a'.repeat(64),
          outbound: [],
        });
      }
      const append = (sessionId: string, seq: number) =>
        store.append(sessionId, 'e.1', { seq, payload }, 200, { acked: seq - 1, processed: seq });
      const cpuBefore = cpuUs(redisPid);
      const started = performance.now();
      for (let r = 0; r < rounds; r++) {
        const base = r * per;
        const writes: Promise<unknown>[] = [];
        if (order === 'adjacent') {
          for (const id of ids) for (let k = 1; k <= per; k++) writes.push(append(id, base + k));
        } else {
          for (let k = 1; k <= per; k++) for (const id of ids) writes.push(append(id, base + k));
        }
        await Promise.all(writes);
      }
      const writes = sessions * rounds * per;
      const cpu = (cpuUs(redisPid) - cpuBefore) / writes;
      const wall = ((performance.now() - started) * 1000) / writes;
      console.log(
        `${order}: ${writes} writes (${sessions} sessions × ${per} per turn × ${rounds} turns): ` +
          `redis CPU ${cpu.toFixed(2)} µs/write, wall ${wall.toFixed(2)} µs/write`,
      );
    } finally {
      await store.close();
    }
  }
} finally {
  await redis.stop();
}
