/**
 * Attackers for test/abuse.test.ts, each in a child process of its own (attacker.ts), so that their
 * sockets and CPU are not the honest devices' and the gateway sees them as separate clients. Forked
 * and loaded first, an attacker attacks on `go()` and ends by itself after its duration; `kill()`
 * ends it early by PID, and a test process that exits without calling it still takes its attackers
 * with it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AttackerCommand, AttackerMessage, AttackPlan, AttackStats } from './attack-plan.js';

export class Attacker {
  readonly child: ChildProcess;
  readonly plan: AttackPlan;
  /** The latest report; the final one once the attack ended by itself. */
  stats: AttackStats | undefined;
  final = false;
  readonly exited: Promise<number | null>;
  readonly #onExit = () => {
    if (this.running) this.child.kill('SIGKILL');
  };

  private constructor(child: ChildProcess, plan: AttackPlan) {
    this.child = child;
    this.plan = plan;
    process.once('exit', this.#onExit);
    // 'close', not 'exit': it comes after the IPC channel is drained, so the final report is in.
    this.exited = new Promise((resolve) =>
      child.once('close', (code) => {
        process.off('exit', this.#onExit);
        resolve(code);
      }),
    );
    child.on('error', () => {});
    child.on('message', (m: AttackerMessage) => {
      if (m.type !== 'report') return;
      this.stats = m.stats;
      this.final ||= m.final;
    });
  }

  /** Fork the attacker; resolves once it is loaded and waits for `go()`. */
  static async start(plan: AttackPlan, timeoutMs = 30_000): Promise<Attacker> {
    const script = fileURLToPath(new URL('./attacker.ts', import.meta.url));
    const child = fork(script, [JSON.stringify(plan)], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const attacker = new Attacker(child, plan);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        child.on('message', (m: AttackerMessage) => {
          if (m.type === 'ready') resolve();
        });
        child.once('exit', (code) => reject(new Error(`${plan.kind} attacker exited with ${code}`)));
        timer = setTimeout(
          () => reject(new Error(`${plan.kind} attacker not running after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
    } catch (err) {
      await attacker.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return attacker;
  }

  /** Start the attack; it ends by itself after the plan's duration. */
  go(): void {
    this.child.send({ type: 'go' } satisfies AttackerCommand);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait for the attack to end by itself (its final report); kill it by PID if it overruns. */
  async finished(graceMs: number): Promise<AttackStats> {
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!ended) await this.kill();
    if (!this.final || !this.stats) throw new Error(`the ${this.plan.kind} attacker sent no final report`);
    return this.stats;
  }

  /** SIGKILL to its PID (what ChildProcess.kill signals), unless it already exited. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}
