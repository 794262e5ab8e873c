import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createClient, mintDeviceToken } from '@zerodrop/client';
import type { NginxConfigOptions } from '../../../deploy/nginx/render.js';
import { findBinary, requireBinary } from './lab/binaries.js';
import { labNginxConfig, labNginxOptions, loadNginxRenderer } from './lab/nginx-config.js';
import { NginxProcess } from './lab/nginx-process.js';
import { identify, stillRunning } from './lab/proc.js';
import { type LabState, readState, writeState } from './lab/state.js';
import { waitFor } from './lab/wait.js';
import { runCli } from './test-support/run-cli.js';

const run = promisify(execFile);
const LAB = { timeoutMs: 90_000 };

describe('zerodrop lab', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerodrop-lab-test-'));
  after(async () => {
    // Whatever a failed test left running is stopped by the command under test, by its PIDs.
    if (existsSync(join(dir, 'state.json'))) await runCli(['lab', 'down', '--dir', dir], LAB);
    rmSync(dir, { recursive: true, force: true });
  });

  it('up starts the production topology on loopback, prints where everything is, and records it', async () => {
    const up = await runCli(['lab', 'up', '--dir', dir], LAB);
    assert.equal(up.code, 0, up.output);
    const state = readState(dir)!;
    for (const p of state.processes) {
      assert.ok(stillRunning(p), `${p.name} (pid ${p.pid}) runs after the command exited`);
      assert.match(
        up.stdout,
        new RegExp(`${p.name}\\s+\\S+\\s+${p.pid}\\b`),
        `${p.name} and its PID are printed`,
      );
    }
    assert.deepEqual(state.processes.map((p) => p.name).sort(), ['app', 'app_replica', 'nginx', 'redis']);
    assert.match(up.stdout, new RegExp(`admin token\\s+${state.secrets.adminToken}`));
    assert.match(up.stdout, new RegExp(state.wsUrl.replaceAll('/', '\\/')));
    for (const url of [state.wsUrl, state.nginxUrl, state.redisUrl, ...Object.values(state.instances)])
      assert.match(url, /^\w+:\/\/127\.0\.0\.1:\d+/, 'loopback only');

    // Redis saves RDB snapshots as the runbook sets them.
    const cli = requireBinary('redis-cli', 'redis-tools');
    const save = (await run(cli, ['-u', state.redisUrl, 'CONFIG', 'GET', 'save'])).stdout;
    assert.match(save, /900 1 300 10 60 10000/);
    // Each instance is `zerodrop serve` with its name, the shared Redis and the admin token.
    for (const [name, url] of Object.entries(state.instances)) {
      const health = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
      assert.equal(health.instance, name);
      assert.deepEqual(health.store, { kind: 'redis', status: 'ready', shared: true });
      const drain = await fetch(`${url}/admin/drain/status`, {
        headers: { authorization: `Bearer ${state.secrets.adminToken}` },
      });
      assert.equal(drain.status, 200, `${name} takes the printed admin token`);
    }
    // nginx runs deploy/nginx's configuration: it pins an operator to the instance named.
    const pinned = await fetch(`${state.nginxUrl}/health`, {
      headers: { 'x-zerodrop-instance': 'app_replica' },
    });
    assert.equal(((await pinned.json()) as { instance: string }).instance, 'app_replica');
    // A device authenticates with a token minted from the lab's secret, through nginx.
    const device = createClient({
      url: state.wsUrl,
      deviceId: 'bear-lab',
      token: () => mintDeviceToken(state.secrets.deviceSecret, 'bear-lab'),
    });
    try {
      await waitFor(() => device.status === 'open', 'the device to be welcomed through nginx');
    } finally {
      await device.close();
    }

    const status = await runCli(['lab', 'status', '--dir', dir], LAB);
    assert.equal(status.code, 0, status.output);
    assert.match(status.stdout, /app_replica\s+\S+\s+\d+\s+running\s+ok, serving, ws_active \d/);
    const again = await runCli(['lab', 'up', '--dir', dir], LAB);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a lab is already up .*run "zerodrop lab down" first/);
  });

  it('start brings back a killed instance on its port and records it; refuses a running one', async () => {
    const before = readState(dir)!;
    const replica = before.processes.find((p) => p.name === 'app_replica')!;
    const running = await runCli(['lab', 'start', 'app_replica', '--dir', dir], LAB);
    assert.equal(running.code, 1);
    assert.match(running.stderr, new RegExp(`app_replica is already running \\(pid ${replica.pid}\\)`));
    const unknown = await runCli(['lab', 'start', 'nginx', '--dir', dir], LAB);
    assert.equal(unknown.code, 2, 'a service that cannot be started again is a usage error');
    assert.match(unknown.stderr, /lab start takes one service: redis, app, app_replica/);

    process.kill(replica.pid, 'SIGKILL');
    await waitFor(() => !stillRunning(replica), 'the killed instance to be gone');
    const started = await runCli(['lab', 'start', 'app_replica', '--dir', dir, '--json'], LAB);
    assert.equal(started.code, 0, started.output);
    const after = readState(dir)!.processes.find((p) => p.name === 'app_replica')!;
    assert.notEqual(after.pid, replica.pid);
    assert.equal((JSON.parse(started.stdout) as { pid: number }).pid, after.pid);
    assert.ok(stillRunning(after));
    const health = (await (await fetch(`${before.instances.app_replica}/health`)).json()) as {
      instance: string;
    };
    assert.equal(health.instance, 'app_replica', 'the same port answers as app_replica again');
  });

  it('down stops exactly the recorded processes and removes what the lab made', async () => {
    const state = readState(dir)!;
    const down = await runCli(['lab', 'down', '--dir', dir], LAB);
    assert.equal(down.code, 0, down.output);
    for (const p of state.processes) {
      assert.match(down.stdout, new RegExp(`${p.name}\\s+${p.pid}\\s+stopped`));
      assert.equal(stillRunning(p), false, `${p.name} stopped`);
    }
    for (const d of state.directories) assert.equal(existsSync(d), false, `${d} removed`);
    assert.equal(readState(dir), undefined, 'state file removed');
    const status = await runCli(['lab', 'status', '--dir', dir], LAB);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /no lab: .*state.json does not exist/);
  });

  it('down leaves alone a process that now has a recorded PID but is not the one up started', async () => {
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await waitFor(() => identify(stranger.pid!)?.command.startsWith('sleep'), 'sleep to run');
      const who = identify(stranger.pid!)!;
      const state: LabState = {
        version: 1,
        createdAt: new Date().toISOString(),
        wsUrl: 'ws://127.0.0.1:1/ws',
        nginxUrl: 'http://127.0.0.1:1',
        redisUrl: 'redis://127.0.0.1:1',
        instances: { app: 'http://127.0.0.1:2', app_replica: 'http://127.0.0.1:3' },
        secrets: { adminToken: 'a', serviceToken: 's', deviceSecret: 'd' },
        processes: [
          // The PID is the stranger's, the start time is not: the kernel gave the PID away.
          { ...who, startTicks: who.startTicks - 1, name: 'app', url: 'http://127.0.0.1:2', log: '' },
          {
            pid: 2 ** 22 + 1,
            startTicks: 1,
            command: 'gone',
            name: 'redis',
            url: 'redis://127.0.0.1:1',
            log: '',
          },
        ],
        directories: [],
      };
      writeState(dir, state);
      const down = await runCli(['lab', 'down', '--dir', dir], LAB);
      assert.equal(down.code, 0, down.output);
      assert.match(down.stdout, new RegExp(`app\\s+${who.pid}\\s+pid reused: left alone`));
      assert.match(down.stdout, /redis\s+\d+\s+not running/);
      assert.ok(stillRunning(who), 'the stranger still runs');
    } finally {
      stranger.kill();
    }
  });
});

describe('what the lab is made of', () => {
  it('a missing binary names the Debian package to install', () => {
    assert.equal(findBinary('zerodrop-no-such-binary'), undefined);
    assert.throws(
      () => requireBinary('zerodrop-no-such-binary', 'zerodrop-package'),
      /zerodrop-no-such-binary is not installed: run "apt-get install -y zerodrop-package"/,
    );
    assert.match(findBinary('nginx') ?? '', /\/nginx$/);
  });

  it("renders deploy/nginx's production options with loopback addresses, and nginx -t accepts it", async () => {
    const renderer = await loadNginxRenderer();
    const upstreams = [
      { name: 'app', port: 18001 },
      { name: 'app_replica', port: 18002 },
    ];
    const checked = await NginxProcess.check((runtime) => {
      // The lab's options are the renderer's own type: a renamed option fails the type check here.
      const production = renderer.PRODUCTION_NGINX as NginxConfigOptions;
      const options: NginxConfigOptions = labNginxOptions(production, runtime, upstreams);
      assert.equal(options.workerShutdownTimeout, '5s');
      const text = labNginxConfig(renderer, upstreams)(runtime);
      assert.match(text, /server 127\.0\.0\.1:18002 max_fails=1/);
      assert.match(text, new RegExp(`listen 127\\.0\\.0\\.1:${runtime.port};`));
      return text;
    });
    assert.ok(checked.ok, checked.output);
  });
});
