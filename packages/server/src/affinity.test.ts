import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { RawDevice, startGateway, type TestGateway, waitFor } from './test-support/harness.js';
import { RedisProcess } from './test-support/processes.js';

const run = promisify(execFile);

describe('affinity', () => {
  let redis: RedisProcess;
  let g: TestGateway;
  before(async () => {
    redis = await RedisProcess.start();
    g = await startGateway({ redisUrl: redis.url, instanceId: 'app_replica' });
  });
  after(async () => {
    await g.close();
    await redis.destroy();
  });

  it('every upgrade response names the instance in an HttpOnly cookie (1 h) and an X-Affinity-Key header', async () => {
    const ws = new WebSocket(g.info.wsUrl);
    const [res] = (await once(ws, 'upgrade')) as [import('node:http').IncomingMessage];
    assert.equal(res.headers['x-affinity-key'], 'app_replica');
    const cookie = res.headers['set-cookie']?.[0] ?? '';
    assert.match(cookie, /^zd_affinity=app_replica;/);
    assert.match(cookie, /Max-Age=3600/);
    assert.match(cookie, /HttpOnly/);
    ws.close();
  });

  it('records sticky:affinity:<device> in Redis with the same TTL, and the runbook’s purge removes it', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-sticky');
    const client = new Redis(redis.url);
    try {
      await waitFor(
        async () => (await client.get('sticky:affinity:bear-sticky')) === 'app_replica',
        'the sticky key',
      );
      const ttl = await client.pttl('sticky:affinity:bear-sticky');
      assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `TTL about an hour (${ttl} ms)`);
      // Runbook §5 step 3, pointed at this test's Redis.
      const cli = `redis-cli -p ${redis.port}`;
      await run('bash', ['-c', `${cli} --scan --pattern "sticky:affinity:*" | xargs ${cli} del`]);
      assert.equal(await client.exists('sticky:affinity:bear-sticky'), 0);
      assert.ok(await client.exists('zd:generation'), 'the purge leaves the resume store alone');
    } finally {
      client.disconnect();
      dev.close();
    }
  });
});
