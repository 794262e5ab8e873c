import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createClient, mintDeviceToken } from '@zerodrop/client';
import WebSocket from 'ws';
import { signDeviceToken, verifyDeviceToken } from './auth.js';
import { getJson, RawDevice, startGateway, type TestGateway, waitFor } from './test-support/harness.js';

const SECRET = 'fleet-secret-0123456789abcdef';
const OLD_SECRET = 'fleet-secret-previous-rotation';
const now = () => Math.floor(Date.now() / 1000);

/** Open an upgrade and return the HTTP refusal (status and JSON body), or 101 when it was accepted. */
async function tryUpgrade(url: string, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(url, options);
  ws.on('error', () => {});
  const [event, res] = await Promise.race([
    once(ws, 'open').then(() => ['open', undefined] as const),
    once(ws, 'unexpected-response').then(([, r]) => ['refused', r as IncomingMessage] as const),
  ]);
  if (event === 'open') {
    ws.close();
    return { status: 101, body: {} as { error?: { code: string; reason?: string } } };
  }
  const text = await new Promise<string>((resolve) => {
    let t = '';
    res!.on('data', (c: Buffer) => {
      t += c.toString();
    });
    res!.on('end', () => resolve(t));
  });
  return {
    status: res!.statusCode!,
    body: JSON.parse(text) as { error?: { code: string; reason?: string } },
  };
}

describe('device tokens', () => {
  it('match the documented test vector, in the gateway and in the SDK (WebCrypto)', async () => {
    // Computed independently: printf 'v1.bear-0042.1767225600' | openssl dgst -sha256 -hmac 'teddy-fleet-secret-2026' -binary | base64 (url-safe, unpadded)
    const vector = 'v1.bear-0042.1767225600.Yr4fJQ1IAurbfrQgVVhz0DUJE_hD1JooUKwn80h0vwo';
    assert.equal(signDeviceToken('teddy-fleet-secret-2026', 'bear-0042', 1767225600), vector);
    assert.equal(await mintDeviceToken('teddy-fleet-secret-2026', 'bear-0042', 1767225600), vector);
  });

  it('verify within the clock-skew window and say why otherwise', () => {
    const opts = { secrets: [SECRET, OLD_SECRET], skewMs: 300_000, nowMs: 1_767_225_600_000 };
    const at = 1_767_225_600;
    assert.deepEqual(verifyDeviceToken(signDeviceToken(SECRET, 'bear-1', at), opts), {
      ok: true,
      deviceId: 'bear-1',
    });
    assert.deepEqual(verifyDeviceToken(signDeviceToken(OLD_SECRET, 'bear-1', at + 299), opts), {
      ok: true,
      deviceId: 'bear-1',
    });
    assert.deepEqual(verifyDeviceToken(signDeviceToken(SECRET, 'bear-1', at + 301), opts), {
      ok: false,
      reason: 'clock_skew',
    });
    assert.deepEqual(verifyDeviceToken(signDeviceToken(SECRET, 'bear-1', at - 301), opts), {
      ok: false,
      reason: 'expired',
    });
    assert.deepEqual(verifyDeviceToken(signDeviceToken('another-fleet-secret!', 'bear-1', at), opts), {
      ok: false,
      reason: 'bad_signature',
    });
    const forged = signDeviceToken(SECRET, 'bear-1', at).replace('bear-1', 'bear-2');
    assert.deepEqual(verifyDeviceToken(forged, opts), { ok: false, reason: 'bad_signature' });
    for (const bad of [
      undefined,
      '',
      'v1.bear',
      'v2.bear-1.1.abc',
      'v1.bear 1.1.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    ]) {
      assert.deepEqual(verifyDeviceToken(bad, opts), { ok: false, reason: 'malformed' });
    }
  });
});

describe('who may connect', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({
      deviceSecrets: `${SECRET},${OLD_SECRET}`,
      maxMessageRate: 20,
      maxConnectionsPerIp: 3,
      maxPendingHandshakes: 4,
      allowedOrigins: 'https://teddy.example',
      handshakeTimeoutMs: 1500,
      adminToken: 'the-admin-token',
      adminAuthLimit: 3,
    });
  });
  after(() => g.close());

  const authFailures = async () =>
    (
      await getJson<{ ws_metrics: { auth_failures: Record<string, number> } }>(
        `${g.info.url}/api/v1/esp32/metrics`,
      )
    ).body.ws_metrics.auth_failures;

  it('refuses each bad token with 401 and its reason before the upgrade, counted by reason', async () => {
    const cases: [string | undefined, string][] = [
      [undefined, 'malformed'],
      ['not-a-token', 'malformed'],
      [signDeviceToken('wrong-secret-wrong-secret', 'bear-a', now()), 'bad_signature'],
      [signDeviceToken(SECRET, 'bear-a', now() - 3600), 'expired'],
      [signDeviceToken(SECRET, 'bear-a', now() + 3600), 'clock_skew'],
    ];
    for (const [token, reason] of cases) {
      const r = await tryUpgrade(
        g.info.wsUrl,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
      assert.equal(r.status, 401, reason);
      assert.equal(r.body.error?.code, 'device_unauthorized');
      assert.equal(r.body.error?.reason, reason);
    }
    const counts = await authFailures();
    assert.equal(counts.malformed, 2);
    assert.equal(counts.bad_signature, 1);
    assert.equal(counts.expired, 1);
    assert.equal(counts.clock_skew, 1);
    const prom = await (await fetch(`${g.info.url}/metrics`)).text();
    assert.match(prom, /ws_auth_failures_total\{reason="clock_skew"\} 1/);
  });

  it('admits a valid token in the header or the query, and binds the session to its device', async () => {
    const viaQuery = await RawDevice.connect(
      `${g.info.wsUrl}?token=${signDeviceToken(SECRET, 'bear-q', now())}`,
    );
    assert.equal((await viaQuery.hello('bear-q')).outcome, 'fresh');
    viaQuery.close();
    const impostor = await RawDevice.connect(
      `${g.info.wsUrl}?token=${signDeviceToken(SECRET, 'bear-q', now())}`,
    );
    impostor.send({ t: 'hello', v: 1, device: 'bear-victim' });
    assert.equal((await impostor.next('error')).code, 'device_unauthorized');
    assert.equal(await impostor.closed, 4502, 'a device cannot say hello as another');
  });

  it('the SDK connects with a token minted per attempt', async () => {
    const client = createClient({
      url: g.info.wsUrl,
      deviceId: 'bear-sdk',
      token: () => mintDeviceToken(SECRET, 'bear-sdk'),
    });
    try {
      await waitFor(() => client.status === 'open', 'the SDK device');
    } finally {
      await client.close();
    }
  });

  it('closes a device that floods frames with 4005 and counts it', async () => {
    const dev = await RawDevice.connect(
      `${g.info.wsUrl}?token=${signDeviceToken(SECRET, 'bear-flood', now())}`,
    );
    await dev.hello('bear-flood');
    for (let i = 0; i < 200; i++) dev.send({ t: 'ping', id: i });
    assert.equal(await dev.closed, 4005);
    assert.ok(g.gateway.metrics.ws_rate_limited_total.total() >= 1);
  });

  it('refuses a browser Origin that is not allowed (403) and admits one that is', async () => {
    const token = signDeviceToken(SECRET, 'bear-web', now());
    const denied = await tryUpgrade(`${g.info.wsUrl}?token=${token}`, { origin: 'https://evil.example' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error?.code, 'origin_not_allowed');
    const allowed = await tryUpgrade(`${g.info.wsUrl}?token=${token}`, { origin: 'https://teddy.example' });
    assert.equal(allowed.status, 101);
  });

  it('caps connections per client address (429) and pending handshakes (503)', async () => {
    const token = (d: string) => `${g.info.wsUrl}?token=${signDeviceToken(SECRET, d, now())}`;
    const fromTwo = await Promise.all(
      [1, 2, 3].map((i) => RawDevice.connect(token(`bear-ip-${i}`), { localAddress: '127.0.0.2' })),
    );
    const fourth = await tryUpgrade(token('bear-ip-4'), { localAddress: '127.0.0.2' });
    assert.equal(fourth.status, 429);
    assert.equal(fourth.body.error?.code, 'too_many_from_address');
    const other = await tryUpgrade(token('bear-ip-5'), { localAddress: '127.0.0.3' });
    assert.equal(other.status, 101, 'another address is not affected');
    await new Promise((r) => setTimeout(r, 100));
    const idle = [await RawDevice.connect(token('bear-idle'), { localAddress: '127.0.0.4' })];
    // 3 from .2 and 1 from .4 are upgraded without a hello: the pending limit of 4 is reached.
    const pending = await tryUpgrade(token('bear-late'), { localAddress: '127.0.0.5' });
    assert.equal(pending.status, 503);
    assert.equal(pending.body.error?.code, 'too_many_pending');
    // The handshake timeout frees them.
    await Promise.all([...fromTwo, ...idle].map((d) => d.closed));
    assert.equal((await tryUpgrade(token('bear-late'), { localAddress: '127.0.0.5' })).status, 101);
  });

  it('lets one token hold at most one connection waiting for its hello (the newest)', async () => {
    const url = `${g.info.wsUrl}?token=${signDeviceToken(SECRET, 'bear-hog', now())}`;
    const first = await RawDevice.connect(url, { localAddress: '127.0.0.6' });
    const second = await RawDevice.connect(url, { localAddress: '127.0.0.6' });
    assert.equal(await first.closed, 4500, 'the older waiting connection is closed');
    const w = await second.hello('bear-hog');
    assert.equal(w.outcome, 'fresh');
    second.close();
  });

  it('rate-limits failed admin authentication per address', async () => {
    const call = (token: string) =>
      fetch(`${g.info.url}/admin/drain/status`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) assert.equal((await call('guess')).status, 401);
    const limited = await call('guess');
    assert.equal(limited.status, 429);
    assert.equal(
      ((await limited.json()) as { error: { code: string } }).error.code,
      'too_many_auth_failures',
    );
    assert.equal((await call('the-admin-token')).status, 429, 'even the right token waits out the minute');
  });
});
