import { after, before } from 'node:test';
import { RedisProcess } from '../test-support/processes.js';
import { resumeStoreConformance } from '../test-support/store-conformance.js';
import { RedisResumeStore } from './redis-store.js';

let redis: RedisProcess;
before(async () => {
  redis = await RedisProcess.start();
});
after(async () => {
  await redis.destroy();
});

let n = 0;
resumeStoreConformance('redis', {
  async make(options) {
    const store = new RedisResumeStore({
      ...options,
      url: redis.url,
      keyPrefix: `conf${++n}:`,
      probeEveryMs: 50,
    });
    await store.open();
    return store;
  },
  async makePeer(options) {
    const store = new RedisResumeStore({
      ...options,
      url: redis.url,
      keyPrefix: `conf${n}:`,
      probeEveryMs: 50,
    });
    await store.open();
    return store;
  },
});
