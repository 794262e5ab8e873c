/**
 * The state file of a lab started with `zerodrop lab up` (`.lab/state.json` by default): where every
 * service listens, the lab's secrets, and each process's identity (PID, start time, command line), so
 * `lab down` stops exactly those processes and never one that has since been given the same PID. It
 * holds secrets: it is written readable by its owner only, and `.lab/` is git-ignored.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessIdentity } from './proc.js';
import type { InstanceName, LabSecrets } from './topology.js';

export const DEFAULT_LAB_DIR = '.lab';

export type LabService = 'redis' | InstanceName | 'nginx';

export interface LabProcess extends ProcessIdentity {
  readonly name: LabService;
  /** Where it answers: redis://…, or the http:// base URL. */
  readonly url: string;
  readonly log: string;
}

export interface LabState {
  readonly version: 1;
  readonly createdAt: string;
  /** Where devices connect (nginx). */
  readonly wsUrl: string;
  readonly nginxUrl: string;
  readonly redisUrl: string;
  readonly instances: Readonly<Record<InstanceName, string>>;
  readonly secrets: LabSecrets;
  readonly processes: readonly LabProcess[];
  /** Directories made for this lab (nginx's prefix, Redis's data), removed by `lab down`. */
  readonly directories: readonly string[];
}

export const statePath = (dir: string) => join(dir, 'state.json');

/** The lab's state, or undefined when there is none. */
export function readState(dir: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(statePath(dir), 'utf8');
  } catch {
    return undefined;
  }
  const state = JSON.parse(text) as LabState;
  if (state.version !== 1 || !Array.isArray(state.processes))
    throw new Error(`${statePath(dir)} is not a zerodrop lab state file`);
  return state;
}

export function writeState(dir: string, state: LabState): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function removeState(dir: string): void {
  rmSync(statePath(dir), { force: true });
}
