/**
 * Real service processes for tests. The code lives in the CLI's lab (packages/cli/src/lab), which
 * starts the same processes for `zerodrop lab` and the drills; tests import it from here.
 */
export { requireBinary } from '../../../cli/src/lab/binaries.js';
export { freePort } from '../../../cli/src/lab/ports.js';
export { RedisProcess, type RedisProcessOptions } from '../../../cli/src/lab/redis-process.js';
