/**
 * Start a gateway as a child process (see gateway-child.ts), talk to its application over IPC, and
 * stop it by PID with the signal the caller wants (SIGKILL for a crash, SIGTERM for a clean stop).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { nodeEntry } from './node-entry.js';

/** Order in which the application messages of every gateway child of this process arrived. */
let arrivals = 0;

export interface AppMessage {
  /** Arrival order across all gateway children: sort by it to see one application's history. */
  arrival: number;
  id: string;
  deviceId: string;
  seq: number;
  binary: boolean;
  /** What the application received: a JSON value, or the bytes of a binary message. */
  data: unknown;
}

export class GatewayProcess {
  readonly child: ChildProcess;
  readonly received: AppMessage[] = [];
  url = '';
  wsUrl = '';
  port = 0;
  readonly instance: string;
  readonly exited: Promise<number | null>;
  #nextId = 1;
  readonly #pending = new Map<number, (r: { seq?: number; error?: string }) => void>();

  private constructor(child: ChildProcess, instance: string) {
    this.child = child;
    this.instance = instance;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        // A request in flight when the instance died has an unknown outcome.
        for (const pending of this.#pending.values()) pending({ error: 'instance_stopped' });
        this.#pending.clear();
        resolve(code);
      }),
    );
    child.on('error', () => {});
    child.on('message', (m: { type: string } & Record<string, unknown>) => {
      if (m.type === 'message') {
        const data = m.binary ? new Uint8Array(Buffer.from(m.data as string, 'base64')) : m.data;
        this.received.push({ ...(m as unknown as AppMessage), data, arrival: ++arrivals });
      }
      if (m.type === 'sent') {
        const resolve = this.#pending.get(m.id as number);
        this.#pending.delete(m.id as number);
        resolve?.(m as { seq?: number; error?: string });
      }
    });
  }

  /**
   * Start a gateway configured by `env` (only these variables, plus PATH: nothing of the caller's
   * environment leaks into its configuration). It listens on PORT (default: a free one) of 127.0.0.1.
   */
  static async start(env: Record<string, string>): Promise<GatewayProcess> {
    const { script, execArgv } = nodeEntry('./gateway-child');
    const instance = env.ZERODROP_INSTANCE_ID ?? 'child';
    const child = fork(script, [], {
      execArgv,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        ZERODROP_LOG_LEVEL: process.env.ZERODROP_TEST_LOG ?? 'silent',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const gp = new GatewayProcess(child, instance);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { type: string; url: string; wsUrl: string; port: number }) => {
        if (m.type !== 'ready') return;
        gp.url = m.url;
        gp.wsUrl = m.wsUrl;
        gp.port = m.port;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.once('exit', (code) =>
        reject(new Error(`gateway ${instance} exited with ${code} before it was ready`)),
      );
    });
    return gp;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Ask the child's gateway to send; resolves with the seq or the error code. */
  send(deviceId: string, value: unknown): Promise<{ seq?: number; error?: string }> {
    const id = this.#nextId++;
    const binary = value instanceof Uint8Array;
    return new Promise((resolve) => {
      if (!this.child.connected) {
        resolve({ error: 'instance_stopped' });
        return;
      }
      this.#pending.set(id, resolve);
      const request = {
        type: 'send',
        id,
        deviceId,
        binary,
        value: binary ? Buffer.from(value).toString('base64') : value,
      };
      this.child.send(request, (err: Error | null) => {
        if (!err) return;
        this.#pending.delete(id);
        resolve({ error: 'instance_stopped' });
      });
    });
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    for (const resolve of this.#pending.values()) resolve({ error: 'instance_stopped' });
    this.#pending.clear();
    return this.exited;
  }
}
