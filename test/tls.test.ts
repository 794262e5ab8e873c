/**
 * TLS at the edge: the deploy/nginx template with its optional TLS listener terminates `wss://` and
 * hands the gateways the same HTTP/1.1 upgrade as on its plain port. A device that trusts the
 * certificate exchanges messages both ways over `wss://` (text and binary, authenticated with its
 * device token); a client that does not trust the certificate, or speaks plain `ws://` to the TLS
 * port, never reaches a gateway. Without `tls` the rendering is the committed one (nginx-config test).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { mintDeviceToken } from '@zerodrop/client';
import { encodeData } from '@zerodrop/protocol';
import WebSocket from 'ws';
import { type NginxConfigOptions, PRODUCTION_NGINX, renderNginxConfig } from '../deploy/nginx/render.js';
import { labNginxOptions } from '../packages/cli/src/lab/nginx-config.js';
import { GatewayProcess } from '../packages/server/src/test-support/gateway-process.js';
import { getJson, RawDevice, waitFor } from '../packages/server/src/test-support/harness.js';
import { NginxProcess } from '../packages/server/src/test-support/nginx-process.js';
import { freePort, RedisProcess, requireBinary } from '../packages/server/src/test-support/processes.js';

const SECRET = 'tls-test-fleet-secret-2026';

/** A self-signed certificate for localhost and 127.0.0.1, valid for a day, in a directory of its own. */
function selfSignedCertificate(): { dir: string; certificate: string; key: string; pem: string } {
  const openssl = requireBinary('openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'zerodrop-tls-'));
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    openssl,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      // Clients check the address they dialled against the subjectAltName, not the CN.
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      certificate,
    ],
    { stdio: 'ignore' },
  );
  return { dir, certificate, key, pem: readFileSync(certificate, 'utf8') };
}

/** A binary message's bytes as the gateway child reports them (base64 over IPC, or decoded). */
const bytesOf = (data: unknown): Buffer =>
  typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data as Uint8Array);

async function connectionsAccepted(gateways: GatewayProcess[]): Promise<number> {
  let total = 0;
  for (const g of gateways) {
    const { body } = await getJson<{ ws_metrics: { ws_connections_total: number } }>(
      `${g.url}/api/v1/esp32/metrics`,
    );
    total += body.ws_metrics.ws_connections_total;
  }
  return total;
}

describe('TLS terminated at nginx', () => {
  let cert: ReturnType<typeof selfSignedCertificate>;
  let redis: RedisProcess;
  let gateways: GatewayProcess[] = [];
  let nginx: NginxProcess;
  let tlsPort: number;

  before(async () => {
    cert = selfSignedCertificate();
    redis = await RedisProcess.start();
    gateways = await Promise.all(
      ['app', 'app_replica'].map((name) =>
        GatewayProcess.start({
          REDIS_URL: redis.url,
          ZERODROP_INSTANCE_ID: name,
          ZERODROP_DEVICE_SECRETS: SECRET,
        }),
      ),
    );
    tlsPort = await freePort();
    nginx = await NginxProcess.start((rt) =>
      renderNginxConfig({
        ...labNginxOptions(
          PRODUCTION_NGINX,
          rt,
          gateways.map((g) => ({ name: g.instance, port: g.port })),
        ),
        workerProcesses: 1,
        tls: { certificate: cert.certificate, key: cert.key, listen: `127.0.0.1:${tlsPort}` },
      }),
    );
  });
  after(async () => {
    await nginx?.stop();
    for (const g of gateways) await g.stop('SIGKILL');
    await redis?.destroy();
    if (cert) rmSync(cert.dir, { recursive: true, force: true });
  });

  const wssUrl = () => `wss://127.0.0.1:${tlsPort}/ws`;

  it('speaks TLS 1.2 or 1.3 with the configured certificate', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: tlsPort, ca: cert.pem });
    await once(socket, 'secureConnect');
    try {
      assert.ok(socket.authorized, 'the certificate verifies against the CA the device trusts');
      assert.match(String(socket.getProtocol()), /^TLSv1\.[23]$/);
      assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');
    } finally {
      socket.destroy();
    }
  });

  it('a device that trusts the certificate exchanges messages both ways over wss://', async () => {
    const deviceId = 'bear-tls';
    const device = await RawDevice.connect(wssUrl(), {
      ca: cert.pem,
      headers: { authorization: `Bearer ${await mintDeviceToken(SECRET, deviceId)}` },
    });
    try {
      const welcome = await device.hello(deviceId);
      assert.equal(welcome.outcome, 'fresh');
      const holder = gateways.find((g) => g.instance === welcome.instance)!;
      assert.ok(holder, `the welcome names an instance behind nginx (${welcome.instance})`);

      // Device → application: three JSON messages and an audio-like binary one.
      for (let seq = 1; seq <= 3; seq++) device.send({ t: 'msg', seq, ack: 0, data: { n: seq } });
      device.send(encodeData({ kind: 'binary', bytes: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) }, 4, 0));
      const mine = () => holder.received.filter((m) => m.deviceId === deviceId);
      await waitFor(() => mine().length === 4, 'four device messages at the application');
      assert.deepEqual(
        mine().map((m) => m.seq),
        [1, 2, 3, 4],
      );
      const [one, two, three, audio] = mine();
      assert.deepEqual([one!.data, two!.data, three!.data], [{ n: 1 }, { n: 2 }, { n: 3 }]);
      assert.equal(audio!.binary, true);
      assert.equal(bytesOf(audio!.data).toString('hex'), 'deadbeef');
      assert.equal((await device.next('ack')).ack > 0, true, 'the gateway acknowledges over TLS');

      // Application → device, through either instance (the other one relays to the holder).
      for (let n = 1; n <= 3; n++) {
        const sent = await gateways[n % 2]!.send(deviceId, { n });
        assert.equal(sent.seq, n, `send ${n} accepted: ${sent.error ?? ''}`);
      }
      await waitFor(() => device.dataFrames().length === 3, 'three messages at the device');
      const frames = device.dataFrames();
      assert.deepEqual(
        frames.map((f) => [f.seq, f.data]),
        [
          [1, { n: 1 }],
          [2, { n: 2 }],
          [3, { n: 3 }],
        ],
      );
      device.send({ t: 'ack', ack: 3 });
    } finally {
      device.close();
      await device.closed;
    }
  });

  it('a client that does not trust the certificate is refused by TLS', async () => {
    const ws = new WebSocket(wssUrl());
    const [err] = (await once(ws, 'error')) as [Error & { code?: string }];
    assert.match(String(err.code), /SELF_SIGNED/);
    ws.terminate();
  });

  it('a plain ws:// client on the TLS port never reaches a gateway', async () => {
    const before = await connectionsAccepted(gateways);
    const ws = new WebSocket(`ws://127.0.0.1:${tlsPort}/ws`, {
      headers: { authorization: `Bearer ${await mintDeviceToken(SECRET, 'bear-plain')}` },
    });
    let opened = false;
    ws.on('open', () => {
      opened = true;
    });
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    let body = '';
    for await (const chunk of res) body += String(chunk);
    ws.terminate();
    assert.equal(res.statusCode, 400);
    assert.match(body, /plain HTTP request was sent to HTTPS port/);
    assert.equal(opened, false);
    assert.equal(await connectionsAccepted(gateways), before, 'no gateway accepted an upgrade');
  });
});

describe('the nginx template with TLS', () => {
  const tls = { certificate: '/etc/zerodrop/tls/cert.pem', key: '/etc/zerodrop/tls/key.pem', listen: '443' };

  it('adds a TLS listener to the same server and nothing else', () => {
    const plain = renderNginxConfig(PRODUCTION_NGINX);
    const withTls = renderNginxConfig({ ...PRODUCTION_NGINX, tls });
    for (const line of [
      'listen 443 ssl;',
      'ssl_certificate /etc/zerodrop/tls/cert.pem;',
      'ssl_certificate_key /etc/zerodrop/tls/key.pem;',
      'ssl_protocols TLSv1.2 TLSv1.3;',
    ]) {
      assert.ok(withTls.includes(`        ${line}\n`), `the TLS rendering has ${line}`);
    }
    const added = withTls.split('\n').filter((line) => !plain.split('\n').includes(line));
    assert.ok(
      added.every((line) => /^\s+(#|listen 443 ssl;|ssl_)/.test(line)),
      `only TLS lines are added: ${added.join(' | ')}`,
    );
    assert.ok(withTls.includes('proxy_http_version 1.1;'), 'the gateways still get HTTP/1.1 upgrades');
  });

  it('refuses TLS options that would change the structure of the file', () => {
    const bad: NginxConfigOptions['tls'][] = [
      { ...tls, listen: '80' },
      { ...tls, listen: '443 ssl http2' },
      { ...tls, certificate: 'cert.pem' },
      { ...tls, key: '/etc/key.pem; include /etc/passwd' },
    ];
    for (const option of bad) {
      assert.throws(() => renderNginxConfig({ ...PRODUCTION_NGINX, tls: option }), /invalid nginx option/);
    }
  });
});
