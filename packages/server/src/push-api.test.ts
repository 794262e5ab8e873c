import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawDevice, startGateway, type TestGateway, waitFor } from './test-support/harness.js';

const TOKEN = 'service-token-for-tests';

async function push(
  url: string,
  device: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${url}/api/v1/devices/${encodeURIComponent(device)}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as { seq?: number; error?: { code: string } } };
}

describe('push API', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ serviceToken: TOKEN, maxUnacked: 3, maxFrameBytes: 4096 });
  });
  after(() => g.close());

  it('accepts a JSON message with 202 and its sequence number once stored, and the device gets it', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-push');
    const r = await push(g.info.url, 'bear-push', JSON.stringify({ text: 'bedtime story' }));
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { device: 'bear-push', seq: 1 });
    const m = await dev.next('msg');
    assert.deepEqual(m.data, { text: 'bedtime story' });
    dev.send({ t: 'ack', ack: 1 });
    dev.close();
  });

  it('sends an application/octet-stream body as a binary message', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-audio');
    const r = await push(g.info.url, 'bear-audio', new Uint8Array([1, 2, 3, 255]), {
      'content-type': 'application/octet-stream',
    });
    assert.equal(r.status, 202);
    const m = await dev.next('bin');
    assert.deepEqual(Array.from(m.data), [1, 2, 3, 255]);
    dev.close();
  });

  it('answers 429 buffer_full when the session holds the maximum, and accepts again after an ack', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-full');
    for (let n = 1; n <= 3; n++) assert.equal((await push(g.info.url, 'bear-full', String(n))).status, 202);
    const full = await push(g.info.url, 'bear-full', '4');
    assert.equal(full.status, 429);
    assert.equal(full.body.error?.code, 'buffer_full');
    await waitFor(() => dev.dataFrames().length === 3, 'three messages');
    dev.send({ t: 'ack', ack: 3 });
    await waitFor(async () => (await push(g.info.url, 'bear-full', '4')).status === 202, 'room again');
    dev.close();
  });

  it('answers 404 unknown_device, 400 on bad JSON or a bad device id, 415 on other media types', async () => {
    const unknown = await push(g.info.url, 'never-seen', '{}');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'unknown_device');
    const badJson = await push(g.info.url, 'bear-push', '{"text":');
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error?.code, 'invalid_body');
    const badId = await push(g.info.url, 'bad id!', '{}');
    assert.equal(badId.status, 400);
    const media = await push(g.info.url, 'bear-push', 'hi', { 'content-type': 'image/png' });
    assert.equal(media.status, 415);
    assert.equal(media.body.error?.code, 'unsupported_media_type');
    const big = await push(g.info.url, 'bear-push', JSON.stringify('x'.repeat(5000)));
    assert.equal(big.status, 413);
    assert.equal(big.body.error?.code, 'body_too_large');
  });

  it('takes the body of a plain `curl -d` (form-urlencoded) as JSON', async () => {
    const r = await push(g.info.url, 'bear-push', '{"text":"from curl"}', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(r.status, 202);
  });

  it('answers 401 without the token or with a wrong one', async () => {
    const none = await fetch(`${g.info.url}/api/v1/devices/bear-push/messages`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const wrong = await push(g.info.url, 'bear-push', '{}', { authorization: 'Bearer not-the-token' });
    assert.equal(wrong.status, 401);
  });

  it('refuses every call with 503 push_not_configured when no service token is set', async () => {
    const plain = await startGateway();
    try {
      const r = await push(plain.info.url, 'bear-push', '{}');
      assert.equal(r.status, 503);
      assert.equal(r.body.error?.code, 'push_not_configured');
    } finally {
      await plain.close();
    }
  });
});
