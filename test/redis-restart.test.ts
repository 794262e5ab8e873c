/**
 * Runbook §4, Redis Restart: restart `redis-server` on the same port under traffic. Connected
 * sessions keep exchanging messages from memory while it is away, the writes wait in order, and when
 * it answers again (with its snapshot, or empty) every live session is whole in it again: zero drops.
 * A session nobody holds any more gets an honest `fresh` / `epoch_mismatch` after an empty restart.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { getJson, RawDevice, waitFor } from '../packages/server/src/test-support/harness.js';
import { RedisProcess } from '../packages/server/src/test-support/processes.js';
import {
  checkDeviceToServer,
  checkServerToDevice,
  deviceSend,
  type SimDevice,
  sleep,
  startFleet,
} from './support.js';

const DEVICES = 10;

interface Health {
  status: string;
  store: { status: string };
}

async function bgsave(url: string): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true });
  await admin.connect();
  try {
    // The runbook's pre-restart steps, as written.
    await admin.config('SET', 'save', '900 1 300 10 60 10000');
    const before = Number(await admin.lastsave());
    await admin.bgsave();
    await waitFor(
      async () =>
        Number(await admin.lastsave()) > before ||
        (await admin.info('persistence')).includes('rdb_bgsave_in_progress:0\r\nrdb_last_save_time'),
      'BGSAVE',
      10_000,
    );
    await waitFor(
      async () => (await admin.info('persistence')).includes('rdb_bgsave_in_progress:0'),
      'BGSAVE to finish',
      10_000,
    );
  } finally {
    admin.disconnect();
  }
}

for (const variant of ['with an RDB snapshot taken first', 'with no persistence at all'] as const) {
  describe(`Redis restart ${variant}`, () => {
    const cleanup: (() => Promise<unknown>)[] = [];
    after(async () => {
      for (const c of cleanup.reverse()) await c();
    });

    it('loses nothing of the connected sessions, and tells a lost session the truth', async (t) => {
      const redis = await RedisProcess.start();
      cleanup.push(() => redis.destroy());
      const env = { REDIS_URL: redis.url, ZERODROP_HEARTBEAT: '500ms', ZERODROP_HEARTBEAT_TIMEOUT: '5s' };
      const a = await GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app' });
      cleanup.push(() => a.stop());
      const b = await GatewayProcess.start({ ...env, ZERODROP_INSTANCE_ID: 'app_replica' });
      cleanup.push(() => b.stop());

      // A device that left B, and B is gone too: after an empty restart nobody holds its session.
      const orphan = await RawDevice.connect(b.wsUrl);
      const wOrphan = await orphan.hello('bear-orphan');
      orphan.close();
      await orphan.closed;
      await b.stop();
      // A device that left A: A still holds its session (and two unacknowledged messages).
      const away = await RawDevice.connect(a.wsUrl);
      const wAway = await away.hello('bear-away');
      assert.equal((await a.send('bear-away', { n: 1 })).seq, 1);
      assert.equal((await a.send('bear-away', { n: 2 })).seq, 2);
      await waitFor(() => away.dataFrames().length === 2, 'two messages to the away device');
      away.cut();
      await away.closed;

      const fleet: SimDevice[] = startFleet(a.wsUrl, DEVICES, 'bear-redis');
      cleanup.push(() => Promise.all(fleet.map((d) => d.client.close())));
      await waitFor(() => fleet.every((d) => d.client.status === 'open'), 'the fleet');
      const accepted = new Map<string, number[]>(fleet.map((d) => [d.id, []]));
      let streaming = true;
      cleanup.push(async () => {
        streaming = false;
      });
      const streams = fleet.flatMap((d) => [
        (async () => {
          for (let n = 1; streaming; n++) {
            const r = await a.send(d.id, { n });
            if (r.seq !== undefined) accepted.get(d.id)!.push(n);
            else assert.fail(`send to ${d.id} failed: ${r.error}`);
            await sleep(15);
          }
        })(),
        (async () => {
          while (streaming) {
            deviceSend(d);
            await sleep(15);
          }
        })(),
      ]);

      await sleep(600);
      if (variant === 'with an RDB snapshot taken first') await bgsave(redis.url);
      await redis.stop('SIGKILL');
      const degraded = await waitFor(async () => {
        const h = await getJson<Health>(`${a.url}/health`);
        return h.body.status === 'degraded' ? h : undefined;
      }, 'health to report the store degraded');
      assert.equal(degraded.status, 200, 'the instance stays up');
      const sentBeforeOutage = fleet.map((d) => d.sent.length);
      await sleep(800);
      assert.ok(
        fleet.every((d, i) => d.sent.length > sentBeforeOutage[i]!),
        'devices kept sending while Redis was away',
      );
      await redis.startProcess();
      await sleep(1200);
      streaming = false;
      await Promise.all(streams);
      await waitFor(
        () =>
          fleet.every(
            (d) => d.client.stats().unacked === 0 && d.received.length >= accepted.get(d.id)!.length,
          ),
        'every message delivered and acknowledged',
        30_000,
      );
      await sleep(300);

      for (const d of fleet) {
        const { redelivered } = checkDeviceToServer(d.id, d.sent, a.received);
        assert.equal(redelivered, 0, `${d.id}: no instance died, so nothing is handed over twice`);
        checkServerToDevice(d.id, d.received, accepted.get(d.id)!, []);
      }

      await waitFor(
        async () => (await getJson<Health>(`${a.url}/health`)).body.status === 'ok',
        'health back to ok',
        10_000,
      );
      const { body } = await getJson<{
        ws_metrics: Record<string, number>;
        resume_store_metrics: Record<string, unknown>;
      }>(`${a.url}/api/v1/esp32/metrics`);
      assert.equal(body.ws_metrics.dropped_messages, 0);
      assert.equal(body.resume_store_metrics.connected, true);
      assert.equal(body.resume_store_metrics.pending_writes, 0);
      assert.equal(
        body.resume_store_metrics.resets,
        1,
        'the restart was noticed once and sessions written back',
      );
      t.diagnostic(
        `messages device→server ${fleet.reduce((s, d) => s + d.sent.length, 0)}, server→device ${[...accepted.values()].reduce((s, v) => s + v.length, 0)}`,
      );

      // The device A still held comes back and gets its two messages, whatever Redis kept.
      const back = await RawDevice.connect(a.wsUrl);
      const wBack = await back.hello('bear-away', {
        session: wAway.session,
        epoch: wAway.epoch,
        token: wAway.token,
        ack: 0,
      });
      assert.equal(wBack.outcome, 'resumed');
      await waitFor(() => back.dataFrames().length === 2, 'the away device’s messages');
      back.close();

      // The orphan: with a snapshot its session is still there; without persistence nobody has it.
      const lost = await RawDevice.connect(a.wsUrl);
      const wLost = await lost.hello('bear-orphan', {
        session: wOrphan.session,
        epoch: wOrphan.epoch,
        token: wOrphan.token,
        ack: 0,
      });
      if (variant === 'with no persistence at all') {
        assert.equal(wLost.outcome, 'fresh');
        assert.equal(wLost.reason, 'epoch_mismatch', 'an honest answer: the store lost this session');
      } else {
        assert.equal(wLost.outcome, 'resumed', 'the snapshot kept it');
      }
      lost.close();
    });
  });
}
