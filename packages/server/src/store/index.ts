/**
 * Picks the resume store from the configuration: Redis when `REDIS_URL` is set, else the embedded
 * memory store.
 */
import type { GatewayConfig } from '../config.js';
import { MemoryResumeStore } from './memory-store.js';
import { RedisResumeStore } from './redis-store.js';
import type { ResumeStore } from './resume-store.js';

export function createStoreFromConfig(config: GatewayConfig): ResumeStore {
  const base = {
    ttlMs: config.resumeTtlMs,
    tombstoneTtlMs: config.tombstoneTtlMs,
    instanceId: config.instanceId,
  };
  if (config.redisUrl) {
    return new RedisResumeStore({
      ...base,
      url: config.redisUrl,
      keyPrefix: config.redisKeyPrefix,
      maxBacklog: config.storeBacklog,
    });
  }
  return new MemoryResumeStore(base);
}
