/**
 * A `redis-server` this process started, on a free loopback port, with its own data directory, and
 * stopped by its PID. It never touches a server it did not start (the machine's own Redis on 6379
 * belongs to nobody here). Attached (the default) it lives and dies with its starter, as in tests and
 * drills; detached (`lab up`) it outlives it and writes its log to a file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binaries.js';
import { freePort, waitForPort } from './ports.js';

/** The runbook's RDB snapshot schedule (`redis-cli CONFIG SET save "900 1 300 10 60 10000"`). */
export const RUNBOOK_SAVE = '900 1 300 10 60 10000';

export interface RedisProcessOptions {
  /** RDB snapshots as the runbook sets them (RUNBOOK_SAVE); off by default. */
  persistence?: boolean;
  port?: number;
  /** Data directory (created if missing); default a new temporary one. */
  dir?: string;
  /** Outlive this process, output to this file (`lab up`); default attached, output discarded. */
  detachedLog?: string;
}

export class RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly #binary: string;
  readonly #persistence: boolean;
  readonly #detachedLog: string | undefined;
  #child: ChildProcess | undefined;

  private constructor(port: number, options: RedisProcessOptions) {
    this.#binary = requireBinary('redis-server', 'redis-server');
    this.port = port;
    this.#persistence = options.persistence ?? false;
    this.#detachedLog = options.detachedLog;
    if (options.dir) mkdirSync(options.dir, { recursive: true });
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'zerodrop-redis-'));
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
      this.#persistence ? RUNBOOK_SAVE : '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    const logFd = this.#detachedLog === undefined ? undefined : openSync(this.#detachedLog, 'a');
    const child = spawn(this.#binary, args, {
      stdio: logFd === undefined ? 'ignore' : ['ignore', logFd, logFd],
      detached: logFd !== undefined,
    });
    if (logFd !== undefined) {
      closeSync(logFd);
      child.unref();
    }
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
