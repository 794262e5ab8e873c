/**
 * Test support: run the real `zerodrop` command as a child process (TypeScript sources through tsx,
 * as `npm test` loads them) and collect its exit code and output. The child gets no ZERODROP_* variable
 * from the test's environment unless a test passes one, so an operator's shell cannot leak in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = 'packages/cli/src/bin.ts';

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together, for "never printed anywhere" checks. */
  readonly output: string;
  readonly ms: number;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Kill the child after this long (a hung command fails its test instead of the suite). */
  readonly timeoutMs?: number;
}

/** A command still running: its output so far, and its end. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** Resolves once stdout matches `pattern` (rejects if the command ends first). */
  stdoutMatches(pattern: RegExp): Promise<void>;
  readonly done: Promise<CliRun>;
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return startCli(args, options).done;
}

export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('ZERODROP_')) env[k] = v;
  }
  Object.assign(env, options.env);
  const started = Date.now();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', BIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, output: stdout + stderr, ms: Date.now() - started });
    });
  });
  return {
    child,
    done,
    stdoutMatches: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(stdout)) return;
          child.stdout.off('data', check);
          resolve();
        };
        child.stdout.on('data', check);
        check();
        void done.then((run) =>
          reject(
            new Error(`the command ended (exit ${run.code}) before printing ${pattern}:\n${run.output}`),
          ),
        );
      }),
  };
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
