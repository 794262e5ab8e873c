import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import {
  captureLogger,
  getJson,
  RawDevice,
  startGateway,
  type TestGateway,
  waitFor,
} from './test-support/harness.js';

const run = promisify(execFile);
const ADMIN_TOKEN = 'admin-token-for-tests';

/** The runbook's commands, exactly as written, with its host swapped for the test gateway. */
async function sh(command: string, url: string): Promise<string> {
  const cmd = command.replaceAll('https://api.aiteddybear.com', url);
  const { stdout } = await run('bash', ['-c', cmd], { env: { ...process.env, ADMIN_TOKEN } });
  return stdout;
}

async function admin(url: string, method: string, path: string, body?: string, token = ADMIN_TOKEN) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { body }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { error?: { code: string } },
  };
}

describe('admin API and drain (embedded store)', () => {
  let g: TestGateway;
  const log = captureLogger();
  before(async () => {
    g = await startGateway({ adminToken: ADMIN_TOKEN, drainSpreadMs: 200 }, { logger: log.logger });
  });
  after(() => g.close());

  it('refuses without a token or with a wrong one (401), and never logs the token', async () => {
    for (const path of ['/admin/drain/status']) {
      assert.equal((await admin(g.info.url, 'GET', path, undefined, '')).status, 401);
      const wrong = await admin(g.info.url, 'GET', path, undefined, 'guess');
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error?.code, 'unauthorized');
    }
    for (const path of ['/admin/drain/start', '/admin/drain/complete', '/admin/drain/cancel']) {
      assert.equal((await admin(g.info.url, 'POST', path, '{}', 'guess')).status, 401);
    }
    assert.equal(g.gateway.drain.state, 'serving', 'nothing happened');
    assert.ok(
      log.lines.some((l) => l.includes('"event":"admin_auth_failed"')),
      'failed attempts are logged',
    );
    assert.ok(
      !log.lines.some((l) => l.includes('guess') || l.includes(ADMIN_TOKEN)),
      'no token in any log line',
    );
  });

  it('refuses bad bodies with 400 invalid_body', async () => {
    const bodies = [
      '{"reason": 5}',
      '{"reason":"x","max_session_age_seconds":-1}',
      '{"reason":"x","max_session_age_seconds":1.5}',
      '{"reason":"x","max_session_age_seconds":"30"}',
      '{"reason":"x","surprise":true}',
      '{"reason":',
      '[1,2]',
    ];
    for (const body of bodies) {
      const r = await admin(g.info.url, 'POST', '/admin/drain/start', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error?.code, 'invalid_body', body);
    }
    assert.equal(g.gateway.drain.state, 'serving');
  });

  it('runs the runbook’s emergency commands exactly as written', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-drain');
    const status = JSON.parse(
      await sh(
        'curl -H "Authorization: Bearer $ADMIN_TOKEN" https://api.aiteddybear.com/admin/drain/status',
        g.info.url,
      ),
    );
    assert.equal(status.state, 'serving');
    const started = JSON.parse(
      await sh(
        `curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \\
  -d '{"reason":"emergency","max_session_age_seconds":30}' \\
  https://api.aiteddybear.com/admin/drain/start`,
        g.info.url,
      ),
    );
    assert.equal(started.state, 'draining');
    assert.equal(started.reason, 'emergency');
    assert.equal(started.max_session_age_seconds, 30);
    assert.equal(started.sessions_at_start, 1);
    assert.equal(started.store_shared, false);
    assert.match(started.note, /memory store/);

    // Not ready at once; liveness stays up.
    const ready = await getJson(`${g.info.url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.state, 'draining');
    assert.equal((await getJson(`${g.info.url}/health`)).status, 200);

    // The connected device is asked to move.
    const hint = await dev.next('reconnect');
    assert.equal(hint.reason, 'emergency');
    assert.ok(hint.delay_ms >= 0 && hint.delay_ms <= 1000);

    // A new upgrade is refused with 503 and counted.
    const refused = new WebSocket(g.info.wsUrl);
    refused.on('error', () => {});
    const [, res] = (await once(refused, 'unexpected-response')) as [
      unknown,
      import('node:http').IncomingMessage,
    ];
    assert.equal(res.statusCode, 503);
    const metrics = JSON.parse(
      await sh('curl -s https://api.aiteddybear.com/api/v1/esp32/metrics', g.info.url),
    );
    assert.equal(metrics.ws_metrics.ws_upgrades_blocked_during_drain, 1);
    const st = (await admin(g.info.url, 'GET', '/admin/drain/status')).body;
    assert.equal(st.upgrades_blocked, 1);
    assert.equal(st.reconnect_hints_sent, 1);

    // A second start is refused while one runs.
    const again = await admin(g.info.url, 'POST', '/admin/drain/start', '{"reason":"twice"}');
    assert.equal(again.status, 409);
    assert.equal(again.body.error?.code, 'drain_in_progress');

    const completed = JSON.parse(
      await sh(
        `curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \\
  https://api.aiteddybear.com/admin/drain/complete`,
        g.info.url,
      ),
    );
    assert.equal(completed.state, 'drained');
    assert.equal(completed.sessions_remaining, 0);
    assert.equal(await dev.closed, 4000, 'what was left is closed with a reconnect code');
    const events = log.lines.map((l) => JSON.parse(l) as { event: string; reason?: string });
    assert.ok(events.some((e) => e.event === 'drain_started' && e.reason === 'emergency'));
    assert.ok(events.some((e) => e.event === 'drain_completed'));
    assert.ok(!log.lines.some((l) => l.includes(ADMIN_TOKEN)), 'no token in any log line');
  });

  it('refuses to complete a drain nobody started (409), since that would close every device', async () => {
    await admin(g.info.url, 'POST', '/admin/drain/cancel');
    const r = await admin(g.info.url, 'POST', '/admin/drain/complete');
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, 'drain_not_started');
    assert.equal(g.gateway.drain.state, 'serving');
  });

  it('cancel returns the instance to serving', async () => {
    const r = await admin(g.info.url, 'POST', '/admin/drain/cancel');
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'serving');
    assert.equal((await getJson(`${g.info.url}/health/ready`)).status, 200);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-after-cancel');
    dev.close();
  });

  it('a drain with nobody connected finishes by itself', async () => {
    const r = await admin(
      g.info.url,
      'POST',
      '/admin/drain/start',
      '{"reason":"empty","max_session_age_seconds":60}',
    );
    assert.equal(r.status, 202);
    await waitFor(
      async () => (await admin(g.info.url, 'GET', '/admin/drain/status')).body.state === 'drained',
      'drained',
    );
    await admin(g.info.url, 'POST', '/admin/drain/cancel');
  });

  it('refuses every call with 503 admin_not_configured when no admin token is set', async () => {
    const open = await startGateway();
    try {
      const r = await admin(open.info.url, 'GET', '/admin/drain/status');
      assert.equal(r.status, 503);
      assert.equal(r.body.error?.code, 'admin_not_configured');
      assert.equal((await admin(open.info.url, 'POST', '/admin/drain/start', '{}')).status, 503);
      assert.equal(open.gateway.drain.state, 'serving');
    } finally {
      await open.close();
    }
  });
});
