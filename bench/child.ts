/**
 * The benchmark's child processes (echo servers, gateways, load workers): fork a TypeScript module
 * with `--conditions=source --import tsx`, wait for a typed message over IPC with a deadline, and stop
 * the child by PID (SIGTERM, then SIGKILL when it does not exit in time). Nothing here may leave a
 * process behind: every wait is bounded, and `stop` always ends in an exited child.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchMessage {
  readonly type: string;
}

/** A child's answer when something went wrong on its side. */
export interface FailedMessage extends BenchMessage {
  readonly type: 'failed';
  readonly error: string;
}

export interface StartOptions {
  /** Short name for error messages ("gateway+redis", "load worker 1"). */
  readonly name: string;
  readonly env?: Record<string, string>;
  /** Extra Node flags before the TypeScript loader (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /**
   * Start through `sh`, which raises the open-files soft limit to the hard one before it execs Node (a
   * Node process cannot raise its own): for children holding thousands of sockets.
   */
  readonly raiseFileLimit?: boolean;
}

// Deadlines every scenario uses for its children (each compiled by tsx on its first start).
/** A server child answering `ready`: tsx compiles on first start, and two or three start at once. */
export const READY_TIMEOUT_MS = 60_000;
/** A worker process starting (tsx), on top of its own connect timeout. */
export const WORKER_START_MS = 30_000;
/** A worker opening all its connections. */
export const CONNECT_TIMEOUT_MS = 60_000;
/** A child answering one request (a report, a full GC). */
export const REPLY_TIMEOUT_MS = 30_000;
/** A worker's teardown (closing its connections) after its work. */
export const WORKER_CLOSE_MS = 20_000;

/** How long a child gets to exit after SIGTERM before it is killed. */
const TERM_GRACE_MS = 5_000;

export class BenchChild {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #inbox: BenchMessage[] = [];
  #wake: (() => void) | undefined;
  #exitCode: number | null | undefined;

  private constructor(child: ChildProcess, name: string) {
    this.name = name;
    this.#child = child;
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.#exitCode = code ?? (signal ? -1 : null);
        this.#wake?.();
        resolve();
      }),
    );
    // A failed IPC write surfaces as the child's exit or as a missed deadline; never as a crash here.
    child.on('error', () => {});
    child.on('message', (m: BenchMessage) => {
      this.#inbox.push(m);
      this.#wake?.();
    });
  }

  /** Fork `module` (a URL of a .ts file under bench/) with an IPC channel using structured clone. */
  static start(module: URL, options: StartOptions): BenchChild {
    const shell = options.raiseFileLimit
      ? ['-c', 'ulimit -S -n "$(ulimit -H -n)" && exec "$0" "$@"', process.execPath]
      : [];
    const child = fork(fileURLToPath(module), [], {
      execPath: options.raiseFileLimit ? '/bin/sh' : process.execPath,
      execArgv: [...shell, ...(options.nodeFlags ?? []), '--conditions=source', '--import', 'tsx'],
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Structured clone: latency samples travel as Float64Arrays, not as JSON number lists.
      serialization: 'advanced',
    });
    return new BenchChild(child, options.name);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  send<M extends BenchMessage>(message: M): void {
    if (!this.#child.connected) throw new Error(`${this.name} is not running`);
    this.#child.send(message);
  }

  /**
   * The next message of `type` (earlier messages of other types are kept). Rejects with the child's
   * own error when it reports `failed`, when it exits, or when `timeoutMs` passes.
   */
  async next<M extends BenchMessage>(type: M['type'], timeoutMs: number): Promise<M> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const failed = this.#inbox.find((m): m is FailedMessage => m.type === 'failed');
      if (failed) throw new Error(`${this.name}: ${failed.error}`);
      const at = this.#inbox.findIndex((m) => m.type === type);
      if (at >= 0) return this.#inbox.splice(at, 1)[0] as M;
      if (this.#exitCode !== undefined) {
        throw new Error(`${this.name} exited with ${this.#exitCode} while waiting for "${type}"`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} sent no "${type}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Ask for one answer: send `request`, wait for `replyType`. */
  async request<M extends BenchMessage>(
    request: { type: string },
    replyType: M['type'],
    timeoutMs: number,
  ): Promise<M> {
    this.send(request);
    return this.next<M>(replyType, timeoutMs);
  }

  /** Resolves once the child exited on its own, or after `timeoutMs` (false). */
  async exited(timeoutMs: number): Promise<boolean> {
    if (this.#exitCode !== undefined) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const done = await Promise.race([this.#exited.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return done;
  }

  /** Stop by PID: SIGTERM (the child closes cleanly, a CPU profile gets written), SIGKILL if it hangs. */
  async stop(): Promise<void> {
    if (this.#exitCode !== undefined) return;
    this.#child.kill('SIGTERM');
    if (await this.exited(TERM_GRACE_MS)) return;
    this.#child.kill('SIGKILL');
    await this.#exited;
  }
}
