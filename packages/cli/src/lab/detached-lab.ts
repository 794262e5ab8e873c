/**
 * `zerodrop lab up|down|status|start`: the production topology (topology.ts) started as native
 * processes that outlive the command, for a person to operate by hand with the runbook's commands. The
 * gateways are `zerodrop serve` itself, configured by environment as in production; nginx runs the
 * deploy/nginx configuration rendered for loopback. `up` records every process in the state file;
 * `start` brings back one that crashed or was stopped, and records it instead; `down` stops exactly
 * those, by PID, each only while it is still the process that was recorded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requireBinary } from './binaries.js';
import { labNginxConfig, loadNginxRenderer } from './nginx-config.js';
import { NginxProcess } from './nginx-process.js';
import { nodeEntry } from './node-entry.js';
import { freePorts, portOpen } from './ports.js';
import { childrenOf, identify, type ProcessIdentity, signalIfSame, stillRunning } from './proc.js';
import { RedisProcess } from './redis-process.js';
import {
  type LabProcess,
  type LabService,
  type LabState,
  readState,
  removeState,
  statePath,
  writeState,
} from './state.js';
import { gatewayEnv, type InstanceName, instanceUrl, LAB_INSTANCES, newSecrets } from './topology.js';
import { sleep } from './wait.js';

const READY_TIMEOUT_MS = 30_000;
/** A gateway drains on SIGTERM for ZERODROP_DRAIN_GRACE (30 s) when devices are still connected. */
const STOP_TIMEOUT_MS: Record<LabService, number> = {
  app: 40_000,
  app_replica: 40_000,
  nginx: 10_000,
  redis: 10_000,
};

/** The binaries a lab needs, checked before anything starts: each error names its Debian package. */
export function checkLabBinaries(): void {
  requireBinary('redis-server', 'redis-server');
  requireBinary('nginx', 'nginx');
}

/** Start a lab whose processes outlive this one, and record it in `<dir>/state.json`. */
export async function labUp(dir: string): Promise<LabState> {
  const existing = readState(dir);
  const alive = existing?.processes.filter(stillRunning) ?? [];
  if (alive.length > 0)
    throw new Error(
      `a lab is already up (${alive.map((p) => `${p.name} pid ${p.pid}`).join(', ')}): run "zerodrop lab down" first`,
    );
  checkLabBinaries();
  const root = resolve(dir);
  const logs = join(root, 'logs');
  mkdirSync(logs, { recursive: true });
  const renderer = await loadNginxRenderer();
  const secrets = newSecrets();
  const children: ChildProcess[] = [];
  const recorded: LabProcess[] = [];
  const directories: string[] = [];
  const record = (name: LabService, who: ProcessIdentity | undefined, url: string, log: string) => {
    if (!who) throw new Error(`${name} exited right after it started: see ${log}`);
    recorded.push({ name, ...who, url, log });
  };
  try {
    const redisLog = join(logs, 'redis.log');
    const redisDir = redisDirOf(dir);
    directories.push(redisDir);
    const redis = await RedisProcess.start({ persistence: true, dir: redisDir, detachedLog: redisLog });
    record('redis', identify(redis.pid!), redis.url, redisLog);
    const [app, replica, edge] = (await freePorts(3)) as [number, number, number];
    const ports: Record<InstanceName, number> = { app, app_replica: replica };
    for (const name of LAB_INSTANCES) {
      const log = join(logs, `${name}.log`);
      const child = spawnServe(gatewayEnv(name, ports[name], redis.url, secrets), log);
      children.push(child);
      await waitHealthy(instanceUrl(ports[name]), child, log);
      record(name, identify(child.pid!), instanceUrl(ports[name]), log);
    }
    const nginxLog = join(logs, 'nginx.log');
    const upstreams = LAB_INSTANCES.map((name) => ({ name, port: ports[name] }));
    const nginx = await NginxProcess.start(labNginxConfig(renderer, upstreams), {
      port: edge,
      detachedLog: nginxLog,
    });
    directories.push(nginx.runtime.prefix);
    record('nginx', identify(nginx.pid), nginx.url, nginxLog);
    const state: LabState = {
      version: 1,
      createdAt: new Date().toISOString(),
      wsUrl: nginx.wsUrl(),
      nginxUrl: nginx.url,
      redisUrl: redis.url,
      instances: { app: instanceUrl(app), app_replica: instanceUrl(replica) },
      secrets,
      processes: recorded,
      directories,
    };
    writeState(dir, state);
    return state;
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    await stopProcesses(recorded);
    for (const d of directories) rmSync(d, { recursive: true, force: true });
    throw err;
  }
}

/** Redis's data directory in a lab: kept across a restart, so Redis loads its snapshot again. */
const redisDirOf = (dir: string) => join(resolve(dir), 'redis');

/** What `lab start` can start again; nginx is reloaded (SIGHUP), never restarted, in the runbook. */
export const RESTARTABLE: readonly LabService[] = ['redis', ...LAB_INSTANCES];

/**
 * Start again a recorded service that no longer runs (a crashed or stopped gateway, the second half of
 * a Redis restart) as `up` started it: same port, same environment or data directory, its output
 * appended to the same log. The state file then records the new process, so `status` and `down`
 * follow it.
 */
export async function labStart(dir: string, name: LabService): Promise<LabProcess> {
  if (!RESTARTABLE.includes(name))
    throw new Error(`${name} cannot be started again (one of ${RESTARTABLE.join(', ')})`);
  const state = readState(dir);
  if (!state) throw new Error(`no lab: ${statePath(dir)} does not exist (start one with "zerodrop lab up")`);
  const previous = state.processes.find((p) => p.name === name);
  if (!previous) throw new Error(`${statePath(dir)} records no ${name}`);
  if (stillRunning(previous)) throw new Error(`${name} is already running (pid ${previous.pid})`);
  let who: ProcessIdentity | undefined;
  if (name === 'redis') {
    const redis = await RedisProcess.start({
      persistence: true,
      port: Number(new URL(state.redisUrl).port),
      dir: redisDirOf(dir),
      detachedLog: previous.log,
    });
    who = identify(redis.pid!);
  } else {
    const url = state.instances[name as InstanceName];
    const env = gatewayEnv(name as InstanceName, Number(new URL(url).port), state.redisUrl, state.secrets);
    const child = spawnServe(env, previous.log);
    await waitHealthy(url, child, previous.log).catch((err: Error) => {
      child.kill('SIGKILL'); // never left running unrecorded
      throw err;
    });
    who = identify(child.pid!);
  }
  if (!who) throw new Error(`${name} exited right after it started: see ${previous.log}`);
  const started: LabProcess = { name, ...who, url: previous.url, log: previous.log };
  writeState(dir, { ...state, processes: state.processes.map((p) => (p.name === name ? started : p)) });
  return started;
}

/** `zerodrop serve` in a process of its own, configured only by `env` (plus PATH), output to `log`. */
function spawnServe(env: Record<string, string>, log: string): ChildProcess {
  const { script, execArgv } = nodeEntry('../bin');
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [...execArgv, script, 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  return child;
}

async function waitHealthy(url: string, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the gateway at ${url} exited (${child.exitCode ?? child.signalCode}): see ${log}`);
    const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the gateway at ${url} did not answer /health: see ${log}`);
    await sleep(100);
  }
}

export type StopOutcome = 'stopped' | 'killed' | 'not running' | 'pid reused: left alone';

/** Stop the lab in `<dir>`: gateways first, then nginx, then Redis; remove its directories and state. */
export async function labDown(
  dir: string,
): Promise<{ name: LabService; pid: number; outcome: StopOutcome }[]> {
  const state = readState(dir);
  if (!state) throw new Error(`no lab to stop: ${join(dir, 'state.json')} does not exist`);
  const outcomes = await stopProcesses(state.processes);
  for (const d of state.directories) rmSync(d, { recursive: true, force: true });
  removeState(dir);
  return outcomes;
}

async function stopProcesses(processes: readonly LabProcess[]) {
  const byName = (names: LabService[]) => processes.filter((p) => names.includes(p.name));
  const out: { name: LabService; pid: number; outcome: StopOutcome }[] = [];
  for (const group of [byName(['app', 'app_replica']), byName(['nginx']), byName(['redis'])]) {
    const outcomes = await Promise.all(group.map(stopOne));
    group.forEach((p, i) => {
      out.push({ name: p.name, pid: p.pid, outcome: outcomes[i]! });
    });
  }
  return out;
}

/** SIGTERM, then SIGKILL (with nginx's workers) if it has not exited in time. */
async function stopOne(p: LabProcess): Promise<StopOutcome> {
  if (!stillRunning(p)) return identify(p.pid) ? 'pid reused: left alone' : 'not running';
  const workers = p.name === 'nginx' ? childrenOf(p.pid).map(identify) : [];
  signalIfSame(p, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS[p.name];
  while (stillRunning(p)) {
    if (Date.now() > deadline) {
      signalIfSame(p, 'SIGKILL');
      for (const w of workers) if (w) signalIfSame(w, 'SIGKILL');
      return 'killed';
    }
    await sleep(50);
  }
  return 'stopped';
}

export interface ServiceStatus {
  readonly name: LabService;
  readonly pid: number;
  readonly url: string;
  readonly running: boolean;
  /** What the service answers: the gateway's /health status and ws_active, nginx's /health. */
  readonly health: string;
}

/** Each recorded process: still running, and what it answers. */
export async function labStatus(state: LabState): Promise<ServiceStatus[]> {
  return Promise.all(
    state.processes.map(async (p) => {
      const running = stillRunning(p);
      return { name: p.name, pid: p.pid, url: p.url, running, health: running ? await health(p) : '-' };
    }),
  );
}

async function health(p: LabProcess): Promise<string> {
  if (p.name === 'redis')
    return (await portOpen(Number(new URL(p.url).port))) ? 'listening' : 'not listening';
  try {
    const res = await fetch(`${p.url}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as Record<string, unknown>;
    if (p.name === 'nginx') return `HTTP ${res.status} (answered by ${String(body.instance)})`;
    return `${String(body.status)}, ${String(body.drain)}, ws_active ${String(body.ws_active)}`;
  } catch (err) {
    return `no answer (${(err as Error).message})`;
  }
}
