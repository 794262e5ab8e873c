import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeadLetter } from './app.js';
import { getJson, RawDevice, startGateway, waitFor } from './test-support/harness.js';
import { RedisProcess } from './test-support/processes.js';

describe('expiry with the Redis store', () => {
  let redis: RedisProcess;
  before(async () => {
    redis = await RedisProcess.start();
  });
  after(() => redis.destroy());

  it('a session that expires with unacknowledged messages counts them as dropped and dead-letters them', async () => {
    const letters: DeadLetter[] = [];
    const g = await startGateway(
      {
        redisUrl: redis.url,
        resumeTtlMs: 2500,
        heartbeatMs: 100,
        heartbeatTimeoutMs: 1000,
        expirySweepMs: 50,
      },
      { app: { onDeadLetter: (l) => void letters.push(l) } },
    );
    try {
      const dev = await RawDevice.connect(g.info.wsUrl);
      const w = await dev.hello('bear-expire-redis');
      await g.gateway.send('bear-expire-redis', { lost: 1 });
      await g.gateway.send('bear-expire-redis', new Uint8Array([9, 9]));
      await waitFor(() => dev.dataFrames().length === 2, 'two messages');
      dev.cut();
      await dev.closed;
      await waitFor(() => letters.length === 2, 'the dead letters', 10_000);
      assert.deepEqual(
        letters.map((l) => [l.seq, l.reason, l.binary]),
        [
          [1, 'expired', false],
          [2, 'expired', true],
        ],
      );
      assert.deepEqual(letters[0]?.data, { lost: 1 });
      const again = await RawDevice.connect(g.info.wsUrl);
      const w2 = await again.hello('bear-expire-redis', {
        session: w.session,
        epoch: w.epoch,
        token: w.token,
        ack: 0,
      });
      assert.equal(w2.outcome, 'fresh');
      assert.equal(w2.reason, 'expired');
      assert.equal(w2.replay, 0, 'the expired messages are not carried into the new session');
      const { body } = await getJson<{ ws_metrics: Record<string, number> }>(
        `${g.info.url}/api/v1/esp32/metrics`,
      );
      assert.equal(body.ws_metrics.dropped_messages, 2);
      assert.equal(body.ws_metrics.dead_letters, 2);
      again.close();
    } finally {
      await g.close();
    }
  });
});
