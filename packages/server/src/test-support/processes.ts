/**
 * Real service processes for tests: find a free loopback port, start `redis-server` on it, stop it by
 * PID. Never touches a server it did not start (the machine's own Redis on 6379 belongs to no test).
 * A missing binary fails with the Debian package to install, never a skipped test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function requireBinary(name: string, debianPackage: string): string {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) {
    const p = join(dir, name);
    if (spawnSync('test', ['-x', p]).status === 0) return p;
  }
  throw new Error(
    `${name} is not installed: run "apt-get install -y ${debianPackage}" (CI's .ci/run does this)`,
  );
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface RedisProcessOptions {
  /** RDB snapshots as the runbook sets them (`save "900 1 300 10 60 10000"`); off by default. */
  persistence?: boolean;
  port?: number;
}

/** A `redis-server` this process started, on a free port, with its own data directory. */
export class RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly #binary: string;
  readonly #persistence: boolean;
  #child: ChildProcess | undefined;

  private constructor(port: number, options: RedisProcessOptions) {
    this.#binary = requireBinary('redis-server', 'redis-server');
    this.port = port;
    this.#persistence = options.persistence ?? false;
    this.dir = mkdtempSync(join(tmpdir(), 'zerodrop-redis-'));
  }

  static async start(options: RedisProcessOptions = {}): Promise<RedisProcess> {
    const r = new RedisProcess(options.port ?? (await freePort()), options);
    await r.startProcess();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async startProcess(): Promise<void> {
    if (this.#child) throw new Error('redis-server already running');
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      this.#persistence ? '900 1 300 10 60 10000' : '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    const child = spawn(this.#binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitForPort(this.port, 10_000);
  }

  /** Stop by PID: SIGTERM (Redis saves first when persistence is on), or SIGKILL to lose everything. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.#child = undefined;
  }

  async restart(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.startProcess();
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
