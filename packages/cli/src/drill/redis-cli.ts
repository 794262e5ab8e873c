/**
 * The runbook's Redis commands, run as it writes them, with `redis-cli` pointed at the lab's Redis:
 * `CONFIG SET save …`, `BGSAVE`, `ping`, and the sticky-key purge pipeline.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireBinary } from '../lab/binaries.js';

const run = promisify(execFile);

export interface RedisCli {
  /** `redis-cli <args>` against this Redis; resolves with what it printed. */
  (...args: string[]): Promise<string>;
  /** A shell pipeline in which `redis-cli` means the lab's (the purge: `… | xargs redis-cli del`). */
  pipeline(script: string): Promise<string>;
}

/** `redis-cli -u <url>`: the lab's Redis, as the runbook's `redis-cli -u $REDIS_URL`. */
export function redisCli(url: string): RedisCli {
  if (!/^redis:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`not a lab Redis URL: ${url}`);
  const binary = requireBinary('redis-cli', 'redis-tools');
  const cli = async (...args: string[]) => (await run(binary, ['-u', url, ...args])).stdout.trim();
  cli.pipeline = async (script: string) => {
    // Every `redis-cli` of the runbook's line becomes this one; the URL is a loopback address with a
    // port we chose (checked above) and the script a constant of the drill: nothing else reaches bash.
    const shell = script.replaceAll('redis-cli', `${binary} -u ${url}`);
    return (await run('bash', ['-c', shell])).stdout.trim();
  };
  return cli;
}
