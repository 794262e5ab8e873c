/**
 * docs/OPERATIONS.md, run against a lab: its shell blocks, top to bottom, as an operator reading it in
 * one shell would run them. The page's own first lab block starts the lab (`zerodrop lab up`, the
 * CLI from its sources, as runCli starts it) in a temporary directory and sets the variables; every
 * block after it runs with `bash -euo pipefail` in the environment the earlier ones exported, and
 * must exit 0. Blocks whose output says something (a drain's state, where the devices are, the
 * store's status during a Redis restart) are checked. Production-only blocks are never run, and each
 * must be followed by its lab equivalent. The lab is always stopped, by its own `lab down`.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readState, statePath } from '../packages/cli/src/lab/state.js';
import { runCli } from '../packages/cli/src/test-support/run-cli.js';
import { type BlockRun, runBlock, type ShellBlock, shellBlocks } from './shell-blocks.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGE = readFileSync(join(ROOT, 'docs/OPERATIONS.md'), 'utf8');
const { blocks, problems } = shellBlocks(PAGE);
const runnable = blocks.filter((b) => b.kind !== 'production');
/** A block's own bound; every wait inside it has a shorter `timeout`. */
const BLOCK_TIMEOUT_MS = 150_000;

/** The JSON documents a block printed: one pretty-printed document, or one per line. */
function jsonOut(run: BlockRun): Record<string, unknown>[] {
  const text = run.stdout.trim();
  try {
    return [JSON.parse(text) as Record<string, unknown>];
  } catch {
    return text
      .split('\n')
      .filter((l) => l.startsWith('{') && l.endsWith('}'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
const only = (run: BlockRun) => {
  const docs = jsonOut(run);
  assert.equal(docs.length, 1, `one JSON document:\n${run.stdout}`);
  return docs[0]!;
};
const byInstance = (run: BlockRun) =>
  Object.fromEntries(jsonOut(run).map((d) => [String(d.instance), d])) as Record<
    string,
    Record<string, number>
  >;

interface Expectation {
  /** Text only the block meant contains. */
  readonly block: string;
  readonly check: (run: BlockRun) => void;
}

describe('docs/OPERATIONS.md', () => {
  it('has only sh blocks, each production-only one followed at once by its lab equivalent', () => {
    assert.deepEqual(problems, [], 'every fence is "sh", "sh production" or "sh lab"');
    assert.ok(runnable.length >= 30, `the walkthrough is on the page (${runnable.length} blocks)`);
    const production = blocks.filter((b) => b.kind === 'production');
    assert.ok(production.length >= 6, 'the production-only commands are marked');
    blocks.forEach((b, i) => {
      if (b.kind === 'production') {
        assert.match(b.body, /^# production: /, `line ${b.line}: says it is production-only`);
        assert.equal(blocks[i + 1]?.kind, 'lab', `line ${b.line}: followed by its lab equivalent`);
      }
      if (b.kind === 'lab') assert.match(b.body, /^# lab: /, `line ${b.line}: says it is for the lab`);
    });
  });

  it('keeps the runbook’s endpoints, JSON fields, metric names and operations', () => {
    for (const name of [
      '/admin/drain/status',
      '/admin/drain/start',
      '/admin/drain/complete',
      '/api/v1/esp32/metrics',
      '/health',
      '.ws_metrics',
      '.resume_store_metrics',
      'max_session_age_seconds',
      '"reason":"emergency","max_session_age_seconds":30',
      '"reason":"rolling_deployment","max_session_age_seconds":60',
      '--reason scale_down --max-age 120',
      'ws_active',
      'dropped_messages',
      'ws_resumes',
      'ws_reconnects',
      'resume_failures',
      'rtt_p95_ms',
      'ws_upgrades_blocked_during_drain',
      'CONFIG SET save "900 1 300 10 60 10000"',
      'BGSAVE',
      '--scan --pattern "sticky:affinity:*"',
      'docker-compose -f deployment/docker-compose.production.yml up -d app_replica',
      'docker-compose -f deployment/docker-compose.production.yml stop app_replica',
      'nginx -s reload',
      'nginx -t -c /path/to/new/nginx.conf',
    ])
      assert.ok(PAGE.includes(name), `the page has ${name}`);
    const headings = PAGE.split('\n').filter((l) => /^##? /.test(l));
    for (const h of [
      /^## Before you start/,
      /^## Emergency commands/,
      /^## 1\. Rolling deployment/,
      /^## 2\. Nginx reload/,
      /^## 3\. Instance crash recovery/,
      /^## 4\. Redis restart/,
      /^## 5\. Scale down/,
    ])
      assert.ok(
        headings.some((l) => h.test(l)),
        `a section ${h}`,
      );
  });

  it('runnable blocks name every host by variable, reach Redis by $REDIS_URL and end by themselves', () => {
    for (const b of runnable) {
      const at = `line ${b.line}:\n${b.body}`;
      assert.doesNotMatch(b.body, /\b(?:https?|wss?|redis):\/\//, `${at}\nno literal URL: a variable`);
      assert.doesNotMatch(b.body, /(?:^|[;&|]\s*)watch\s/m, `${at}\nno watch (it never ends)`);
      for (const line of b.body.split('\n').filter((l) => !l.trim().startsWith('#'))) {
        if (/\b(?:until|while)\b/.test(line))
          assert.match(line, /^\s*timeout \d+ /, `${at}\na wait is bounded by timeout: ${line}`);
        for (const call of line.match(/redis-cli[^|;&]*/g) ?? [])
          assert.match(
            call,
            /^redis-cli -u "\$REDIS_URL" /,
            `${at}\nredis-cli reaches the lab's Redis: ${call}`,
          );
        const zerodrop = /\bzerodrop (drain|metrics|verify)\b.*/.exec(line);
        if (zerodrop) assert.match(zerodrop[0], /--url "\$/, `${at}\nnames its instance: ${line}`);
        if (/\bzerodrop metrics\b.*--watch/.test(line)) assert.match(line, /--count \d/, `${at}\nbounded`);
      }
    }
  });

  describe('every runnable block, in order, against a lab', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zerodrop-operations-'));
    const labDir = join(dir, 'lab');
    const bin = join(dir, 'bin');
    const devicesPid = join(labDir, 'devices.pid');

    after(async () => {
      // A failed run leaves the devices and the lab up: stop exactly what this test started.
      if (existsSync(devicesPid)) {
        const pid = Number(readFileSync(devicesPid, 'utf8'));
        const cmdline = existsSync(`/proc/${pid}/cmdline`)
          ? readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          : '';
        if (cmdline.includes('mintDeviceToken')) process.kill(pid, 'SIGTERM');
      }
      if (existsSync(statePath(labDir)))
        await runCli(['lab', 'down', '--dir', labDir], { timeoutMs: 120_000 });
      rmSync(dir, { recursive: true, force: true });
    });

    it('each exits 0, and what it prints is what the page says', { timeout: 280_000 }, async (t) => {
      // `zerodrop` is the CLI from its sources, and the page's `node` lines load the workspace from
      // its sources too, as `npm test` does: no build needed, no stale dist/.
      mkdirSync(bin);
      writeFileSync(
        join(bin, 'zerodrop'),
        `#!/bin/sh\nexec '${process.execPath}' '${join(ROOT, 'packages/cli/src/bin.ts')}' "$@"\n`,
      );
      chmodSync(join(bin, 'zerodrop'), 0o755);
      let env: Record<string, string> = {
        PATH: [
          bin,
          dirname(process.execPath),
          '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ].join(':'),
        HOME: process.env.HOME ?? dir,
        LANG: 'C.UTF-8',
        TMPDIR: tmpdir(),
        NODE_OPTIONS: `--conditions=source --import=${import.meta.resolve('tsx')}`,
        LAB_DIR: labDir,
      };

      const fleet = () => Number(env.FLEET_SIZE);
      let generations: Record<string, string> = {};
      const expectations: Expectation[] = [
        {
          block: 'zerodrop lab up --dir "$LAB_DIR" --json',
          check: () => {
            const state = readState(labDir);
            assert.ok(state, 'the lab is up, in the test’s directory');
            const nginx = state.processes.find((p) => p.name === 'nginx')!;
            assert.deepEqual(
              [env.EDGE_URL, env.WS_URL, env.APP_URL, env.APP_REPLICA_URL, env.ZERODROP_URL, env.REDIS_URL],
              [
                state.nginxUrl,
                state.wsUrl,
                state.instances.app,
                state.instances.app_replica,
                state.instances.app,
                state.redisUrl,
              ],
            );
            assert.equal(env.ADMIN_TOKEN, state.secrets.adminToken);
            assert.equal(env.ZERODROP_ADMIN_TOKEN, state.secrets.adminToken);
            assert.equal(env.ZERODROP_DEVICE_SECRETS, state.secrets.deviceSecret);
            assert.equal(env.NGINX_PID, String(nginx.pid));
            assert.ok(existsSync(env.NGINX_CONF!), 'NGINX_CONF is the running configuration');
            for (const url of [env.EDGE_URL, env.APP_URL, env.APP_REPLICA_URL, env.REDIS_URL])
              assert.match(url!, /^\w+:\/\/127\.0\.0\.1:\d+$/, 'loopback only');
            assert.notEqual(new URL(env.REDIS_URL!).port, '6379', 'never the machine’s own Redis');
          },
        },
        {
          block: 'nohup node --input-type=module',
          check: () => assert.ok(existsSync(devicesPid), 'the devices’ PID is recorded'),
        },
        {
          block: '# Check drain status\n',
          check: (run) => assert.equal(only(run).state, 'serving'),
        },
        {
          block: '"reason":"emergency"',
          check: (run) => {
            const s = only(run);
            assert.deepEqual([s.state, s.reason, s.max_session_age_seconds], ['draining', 'emergency', 30]);
          },
        },
        {
          block: 'ws_upgrades_blocked_during_drain: .ws_metrics',
          check: (run) => assert.deepEqual(Object.keys(byInstance(run)).sort(), ['app', 'app_replica']),
        },
        {
          block: 'zerodrop drain cancel --url "$APP_URL"',
          check: (run) => assert.match(run.stdout, /^state\s+serving$/m),
        },
        {
          block: '"reason":"rolling_deployment"',
          check: (run) => {
            const s = only(run);
            assert.deepEqual(
              [s.state, s.reason, s.max_session_age_seconds],
              ['draining', 'rolling_deployment', 60],
            );
            assert.ok(Number(s.sessions_at_start) > 0, 'A held devices when its drain started');
          },
        },
        {
          block: 'zerodrop drain status --url "$APP_URL" --json',
          check: (run) => assert.equal(only(run).state, 'draining'),
        },
        {
          block: 'zerodrop drain status --url "$APP_URL" --watch',
          check: (run) => assert.match(run.stdout, /^state\s+drained$/m),
        },
        {
          block: '/admin/drain/complete',
          check: (run) => {
            const s = only(run);
            assert.deepEqual([s.state, s.sessions_remaining], ['drained', 0]);
          },
        },
        {
          block: 'Zero-drop deployment successful',
          check: (run) => assert.match(run.stdout, /✅ Zero-drop deployment successful/),
        },
        {
          block: '# B holds the devices, A none',
          check: (run) => {
            const m = byInstance(run);
            assert.deepEqual([m.app!.ws_active, m.app_replica!.ws_active], [0, fleet()]);
          },
        },
        {
          block: 'nginx -t -c "$NGINX_CONF"',
          check: (run) => assert.match(run.stderr, /test is successful/),
        },
        {
          block: '# Check that active sessions remain stable',
          check: (run) => {
            const m = Object.values(byInstance(run));
            assert.equal(
              m.reduce((n, i) => n + i.ws_active!, 0),
              fleet(),
              'every device is back after the reload',
            );
            assert.equal(
              m.reduce((n, i) => n + i.resume_failures!, 0),
              0,
              'and every one resumed',
            );
          },
        },
        {
          block: 'redis-cli -u "$REDIS_URL" ping',
          check: (run) => assert.equal(run.stdout.trim(), 'PONG'),
        },
        {
          block: 'Resume success rate',
          check: (run) => {
            const rate = /Resume success rate: ([\d.]+)%/.exec(run.stdout);
            assert.ok(rate && Number(rate[1]) > 95, run.stdout);
          },
        },
        {
          block: 'zerodrop lab status --dir "$LAB_DIR"',
          check: (run) => {
            for (const name of ['redis', 'app', 'app_replica', 'nginx'])
              assert.match(run.stdout, new RegExp(`^${name}\\s+\\S+\\s+\\d+\\s+running\\s`, 'm'));
          },
        },
        {
          block: 'CONFIG SET save',
          check: (run) => assert.equal(run.stdout.trim(), 'OK'),
        },
        {
          block: 'redis-cli -u "$REDIS_URL" BGSAVE',
          check: (run) => assert.match(run.stdout, /^rdb_last_bgsave_status:ok/m),
        },
        {
          block: '# the store before',
          check: (run) => {
            const m = byInstance(run) as unknown as Record<string, { store: Record<string, unknown> }>;
            generations = Object.fromEntries(
              Object.entries(m).map(([k, v]) => [k, String(v.store.generation)]),
            );
            for (const v of Object.values(m))
              assert.deepEqual([v.store.status, v.store.pending_writes], ['ready', 0]);
          },
        },
        {
          block: 'App should handle Redis unavailability gracefully',
          check: (run) => assert.equal(only(run).status, 'degraded'),
        },
        {
          block: '# the resume store: "status": "degraded"',
          check: (run) => {
            const s = only(run);
            assert.deepEqual([s.status, s.connected], ['degraded', false]);
          },
        },
        {
          block: '# Check resume store recovery',
          check: (run) => {
            const m = byInstance(run) as unknown as Record<string, { store: Record<string, unknown> }>;
            assert.deepEqual(Object.keys(m).sort(), ['app', 'app_replica']);
            for (const [name, { store }] of Object.entries(m)) {
              assert.deepEqual([store.status, store.connected, store.pending_writes], ['ready', true, 0]);
              assert.equal(store.generation, generations[name], `${name}: Redis came back with its data`);
              assert.ok(Number(store.resets) >= 1, `${name}: wrote back its sessions after the restart`);
            }
          },
        },
        {
          block: '--reason scale_down',
          check: (run) => assert.match(run.stdout, /^reason\s+scale_down$/m),
        },
        {
          block: '# A holds every device, with no resume failure',
          check: (run) => {
            const m = JSON.parse(run.stdout.slice(0, run.stdout.indexOf('}') + 1)) as Record<string, number>;
            assert.deepEqual([m.ws_active, m.resume_failures, m.dropped_messages], [fleet(), 0, 0]);
          },
        },
        {
          block: 'zerodrop lab down --dir "$LAB_DIR"',
          check: (run) => {
            assert.equal(existsSync(statePath(labDir)), false, 'the state file is gone');
            for (const name of ['redis', 'app', 'nginx'])
              assert.match(run.stdout, new RegExp(`^${name}\\s+\\d+\\s+stopped$`, 'm'));
            assert.match(run.stdout, /^app_replica\s+\d+\s+not running$/m, 'scaled down in §5');
          },
        },
      ];
      const matched = new Map<Expectation, ShellBlock[]>();
      for (const e of expectations)
        matched.set(
          e,
          runnable.filter((b) => b.body.includes(e.block)),
        );
      for (const [e, found] of matched)
        assert.equal(found.length, 1, `one block has ${JSON.stringify(e.block)}`);

      let ran = 0;
      for (const block of runnable) {
        const run = await runBlock(block.body, { cwd: ROOT, env, timeoutMs: BLOCK_TIMEOUT_MS });
        const report = `block at docs/OPERATIONS.md:${block.line} (${block.heading}), exit ${run.code ?? run.signal} after ${run.ms} ms:\n${block.body}\n--- stdout\n${run.stdout.slice(-3000)}\n--- stderr\n${run.stderr.slice(-3000)}`;
        assert.equal(run.code, 0, report);
        env = run.env;
        for (const [e, found] of matched) {
          if (found[0] !== block) continue;
          try {
            e.check(run);
          } catch (err) {
            (err as Error).message += `\n${report}`;
            throw err;
          }
        }
        ran++;
        t.diagnostic(`line ${block.line} (${block.heading}): ${run.ms} ms`);
      }
      assert.equal(ran, runnable.length, 'no runnable block was skipped');
    });
  });
});
