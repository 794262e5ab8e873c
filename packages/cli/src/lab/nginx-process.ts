/**
 * A real nginx: its own prefix directory (config, pid, logs and temp files inside it), a free
 * loopback port, the runbook's `nginx -s reload` and `nginx -t`, and a stop by the PID of the master it
 * started. It never signals, reads the pid file of, or binds next to an nginx it did not start (the
 * machine may run one on port 80). A missing binary fails with the Debian package to install.
 * Attached (tests, drills) the master dies with its starter; detached (`lab up`) it outlives it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from './binaries.js';
import { freePort, portOpen } from './ports.js';
import { childrenOf } from './proc.js';
import { sleep } from './wait.js';

export interface NginxPaths {
  readonly pid: string;
  readonly errorLog: string;
  readonly accessLog: string;
  /** Directory for client_temp, proxy_temp, …: nginx must not fall back to its system ones. */
  readonly tempDir: string;
}

/** Where the configuration must put things for this nginx; the caller renders its config from it. */
export interface NginxRuntime {
  /** Loopback port to listen on (`127.0.0.1:<port>`). */
  readonly port: number;
  /** The `-p` prefix directory: every path below lives in it. */
  readonly prefix: string;
  readonly paths: NginxPaths;
  /**
   * `root` when running as root: the prefix is private to its creator (mkdtemp makes it 0700), and
   * workers would otherwise switch to `nobody` and lose access to it. Undefined otherwise.
   */
  readonly user: string | undefined;
}

/** Renders the configuration for a runtime; it must say `daemon off;` and use `runtime.paths.pid`. */
export type NginxConfigSource = (runtime: NginxRuntime) => string;

export interface NginxCheck {
  ok: boolean;
  /** What nginx printed (it reports on stderr). */
  output: string;
}

export interface NginxStartOptions {
  /** Port to listen on (default: a free one). */
  readonly port?: number;
  /** Outlive this process, nginx's own stderr to this file (`lab up`); default attached. */
  readonly detachedLog?: string;
}

const START_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

function createRuntime(port: number): NginxRuntime {
  const prefix = mkdtempSync(join(tmpdir(), 'zerodrop-nginx-'));
  const paths = {
    pid: join(prefix, 'nginx.pid'),
    errorLog: join(prefix, 'error.log'),
    accessLog: join(prefix, 'access.log'),
    tempDir: join(prefix, 'temp'),
  };
  mkdirSync(paths.tempDir);
  return { port, prefix, paths, user: process.getuid?.() === 0 ? 'root' : undefined };
}

/**
 * `-p <prefix> -c <file>`, as the runbook's commands take them, and `-e`: what nginx reports before it
 * has read the configuration goes to the prefix's error log too, never to the system's.
 */
function fileArgs(runtime: NginxRuntime, confPath: string): string[] {
  return ['-p', `${runtime.prefix}/`, '-c', confPath, '-e', runtime.paths.errorLog];
}

function run(binary: string, args: string[]): Promise<NginxCheck> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}`.trim() }),
    );
  });
}

export class NginxProcess {
  readonly runtime: NginxRuntime;
  readonly confPath: string;
  readonly #binary: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stderr = '';
  readonly #onExit = () => {
    if (this.running) this.#child.kill('SIGTERM');
  };

  private constructor(
    binary: string,
    runtime: NginxRuntime,
    confPath: string,
    child: ChildProcess,
    detached: boolean,
  ) {
    this.#binary = binary;
    this.runtime = runtime;
    this.confPath = confPath;
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8192);
    });
    child.on('error', () => {});
    // With `daemon off;` nginx is our child but does not die with us: a run that ends without stop()
    // (a crash, a timeout) still ends the nginx it started, unless it was started to outlive us.
    if (!detached) process.once('exit', this.#onExit);
  }

  /** Render the configuration for a fresh prefix and port, start nginx on it, wait until it listens. */
  static async start(config: NginxConfigSource, options: NginxStartOptions = {}): Promise<NginxProcess> {
    const binary = requireBinary('nginx', 'nginx');
    const runtime = createRuntime(options.port ?? (await freePort()));
    const confPath = join(runtime.prefix, 'nginx.conf');
    writeConfig(confPath, config(runtime), runtime);
    const logFd = options.detachedLog === undefined ? undefined : openSync(options.detachedLog, 'a');
    const child = spawn(binary, fileArgs(runtime, confPath), {
      stdio: logFd === undefined ? ['ignore', 'ignore', 'pipe'] : ['ignore', logFd, logFd],
      detached: logFd !== undefined,
    });
    if (logFd !== undefined) {
      closeSync(logFd);
      child.unref();
    }
    const nginx = new NginxProcess(binary, runtime, confPath, child, logFd !== undefined);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await portOpen(runtime.port))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        const why = `nginx did not listen on 127.0.0.1:${runtime.port}: ${nginx.#stderr}\n${nginx.errorLog()}`;
        await nginx.stop();
        throw new Error(why);
      }
      await sleep(20);
    }
    return nginx;
  }

  /** `nginx -t` on a configuration without starting anything: a prefix of its own, removed after. */
  static async check(config: NginxConfigSource): Promise<NginxCheck> {
    const binary = requireBinary('nginx', 'nginx');
    const runtime = createRuntime(await freePort());
    const confPath = join(runtime.prefix, 'nginx.conf');
    try {
      writeFileSync(confPath, config(runtime));
      return await run(binary, ['-t', ...fileArgs(runtime, confPath)]);
    } finally {
      rmSync(runtime.prefix, { recursive: true, force: true });
    }
  }

  get port(): number {
    return this.runtime.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(path = '/ws'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** PID of the master process this object started. */
  get pid(): number {
    return this.#child.pid!;
  }

  /** Worker processes right now: after a reload, the old ones stay until worker_shutdown_timeout. */
  workers(): number[] {
    return this.running ? childrenOf(this.pid) : [];
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The runbook's check, `nginx -t`, on the configuration file this nginx runs. */
  test(): Promise<NginxCheck> {
    return run(this.#binary, ['-t', ...fileArgs(this.runtime, this.confPath)]);
  }

  /**
   * The runbook's `nginx -s reload` (with this prefix and file), after writing a new rendering when one
   * is given. Resolves once the master has started new workers; rejects with nginx's message when it
   * kept the old configuration.
   */
  async reload(config?: NginxConfigSource): Promise<void> {
    if (config) writeConfig(this.confPath, config(this.runtime), this.runtime);
    const before = new Set(this.workers());
    const logBefore = this.errorLog().length;
    const signalled = await run(this.#binary, ['-s', 'reload', ...fileArgs(this.runtime, this.confPath)]);
    if (!signalled.ok) throw new Error(`nginx -s reload failed: ${signalled.output}`);
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    for (;;) {
      if (this.workers().some((pid) => !before.has(pid))) return;
      const logged = this.errorLog().slice(logBefore);
      if (/\[(emerg|alert)\]/.test(logged)) throw new Error(`nginx kept its old configuration: ${logged}`);
      if (Date.now() > deadline) throw new Error(`nginx started no new workers after a reload: ${logged}`);
      await sleep(20);
    }
  }

  errorLog(): string {
    return readOr(this.runtime.paths.errorLog);
  }

  /** The access log, one parsed JSON object per line (the configuration's `zerodrop` format). */
  accessLog(): Record<string, unknown>[] {
    return readOr(this.runtime.paths.accessLog)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /**
   * Stop by PID: SIGTERM to the master (fast shutdown: it stops its workers and exits); after
   * STOP_TIMEOUT_MS, SIGKILL to the master and to the workers it had. Removes the prefix directory.
   */
  async stop(): Promise<void> {
    process.off('exit', this.#onExit);
    if (this.running) {
      const workers = this.workers();
      this.#child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        this.#exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!stopped) {
        for (const pid of [this.pid, ...workers]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await this.#exited;
      }
    }
    rmSync(this.runtime.prefix, { recursive: true, force: true });
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Refuse a configuration this helper could not stop by PID or reload. */
function writeConfig(path: string, text: string, runtime: NginxRuntime): void {
  if (!/^\s*daemon\s+off;/m.test(text))
    throw new Error('NginxProcess needs `daemon off;` in the configuration: it stops nginx by its PID');
  if (!text.includes(`pid ${runtime.paths.pid};`))
    throw new Error(
      `NginxProcess needs \`pid ${runtime.paths.pid};\`: nginx -s reload finds the master by it`,
    );
  writeFileSync(path, text);
}
