import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceMessage } from './app.js';
import { getJson, RawDevice, startGateway, type TestGateway, waitFor } from './test-support/harness.js';

describe('bad input gets a documented code, loses nothing accepted, and leaves the gateway up', () => {
  let g: TestGateway;
  const received: DeviceMessage[] = [];
  before(async () => {
    g = await startGateway(
      { maxFrameBytes: 1024, handshakeTimeoutMs: 300 },
      { app: { onMessage: (m) => void received.push(m) } },
    );
  });
  after(() => g.close());

  const protocolErrors = async () =>
    (
      await getJson<{ ws_metrics: { protocol_errors: Record<string, number> } }>(
        `${g.info.url}/api/v1/esp32/metrics`,
      )
    ).body.ws_metrics.protocol_errors;

  /** A device with one delivered message each way, to prove nothing is lost afterwards. */
  async function deviceWithTraffic(name: string) {
    const dev = await RawDevice.connect(g.info.wsUrl);
    const w = await dev.hello(name);
    dev.send({ t: 'msg', seq: 1, ack: 0, data: { from: name } });
    await waitFor(() => received.some((m) => m.deviceId === name), 'the first device message');
    await g.gateway.send(name, { to: name });
    await waitFor(() => dev.dataFrames().length === 1, 'the first server message');
    return { dev, w };
  }

  async function assertNothingLost(name: string, w: { session: string; epoch: string; token: string }) {
    const again = await RawDevice.connect(g.info.wsUrl);
    const w2 = await again.hello(name, { session: w.session, epoch: w.epoch, token: w.token, ack: 0 });
    assert.equal(w2.outcome, 'resumed');
    assert.equal(w2.ack, 1, 'the device message stays processed');
    await waitFor(() => again.dataFrames().length === 1, 'the unacked server message again');
    assert.deepEqual(again.dataFrames()[0]?.data, { to: name });
    assert.equal(
      received.filter((m) => m.deviceId === name).length,
      1,
      'the handler saw the device message once',
    );
    again.close();
    const health = await getJson(`${g.info.url}/health`);
    assert.equal(health.status, 200);
  }

  it('malformed JSON gets an error frame and the connection stays usable', async () => {
    const { dev } = await deviceWithTraffic('bad-json');
    dev.send('{"t":"msg",');
    const err = await dev.next('error');
    assert.equal(err.code, 'malformed_frame');
    dev.send({ t: 'msg', seq: 2, ack: 1, data: 'still works' });
    await waitFor(() => received.some((m) => m.deviceId === 'bad-json' && m.seq === 2), 'the next message');
    assert.ok((await protocolErrors()).malformed_frame! >= 1);
    dev.close();
  });

  it('an unknown frame type gets unknown_frame_type and the connection stays', async () => {
    const { dev } = await deviceWithTraffic('bad-type');
    dev.send({ t: 'teleport', to: 'mars' });
    assert.equal((await dev.next('error')).code, 'unknown_frame_type');
    dev.send(new Uint8Array([0x7f, 1, 2]));
    assert.equal((await dev.next('error')).code, 'unknown_frame_type');
    assert.equal(dev.closeCode, undefined);
    assert.ok((await protocolErrors()).unknown_frame_type! >= 2);
    dev.close();
  });

  it('an oversize frame closes with 1009 and nothing accepted is lost', async () => {
    const { dev, w } = await deviceWithTraffic('big-frame');
    dev.send({ t: 'msg', seq: 2, ack: 0, data: 'x'.repeat(4096) });
    assert.equal(await dev.closed, 1009);
    await waitFor(async () => (await protocolErrors()).frame_too_large, 'the frame_too_large count');
    await assertNothingLost('big-frame', w);
  });

  it('an ack for a sequence never sent closes with 4002 ack_out_of_range', async () => {
    const { dev, w } = await deviceWithTraffic('bad-ack');
    dev.send({ t: 'ack', ack: 50 });
    assert.equal((await dev.next('error')).code, 'ack_out_of_range');
    assert.equal(await dev.closed, 4002);
    await assertNothingLost('bad-ack', w);
  });

  it('a sequence gap closes with 4002 sequence_gap and the skipped message is never invented', async () => {
    const { dev, w } = await deviceWithTraffic('gap');
    dev.send({ t: 'msg', seq: 5, ack: 0, data: 'skipped ahead' });
    assert.equal((await dev.next('error')).code, 'sequence_gap');
    assert.equal(await dev.closed, 4002);
    assert.ok(!received.some((m) => m.deviceId === 'gap' && m.seq === 5));
    await assertNothingLost('gap', w);
  });

  it('data before the handshake closes with 4002 handshake_required', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    dev.send({ t: 'msg', seq: 1, ack: 0, data: 'too early' });
    assert.equal((await dev.next('error')).code, 'handshake_required');
    assert.equal(await dev.closed, 4002);
  });

  it('an invalid hello closes with 4503 and an unknown protocol version with 4501', async () => {
    const bad = await RawDevice.connect(g.info.wsUrl);
    bad.send({ t: 'hello', v: 1, device: '' });
    assert.equal((await bad.next('error')).code, 'invalid_handshake');
    assert.equal(await bad.closed, 4503);
    const future = await RawDevice.connect(g.info.wsUrl);
    future.send({ t: 'hello', v: 99, device: 'bear-from-the-future' });
    assert.equal((await future.next('error')).code, 'unsupported_version');
    assert.equal(await future.closed, 4501);
  });

  it('a resume with a wrong token is answered fresh/unauthorized and the real session is untouched', async () => {
    const { dev, w } = await deviceWithTraffic('victim');
    const thief = await RawDevice.connect(g.info.wsUrl);
    const wt = await thief.hello('thief', {
      session: w.session,
      epoch: w.epoch,
      token: 'guessed-token',
      ack: 0,
    });
    assert.equal(wt.outcome, 'fresh');
    assert.equal(wt.reason, 'unauthorized');
    assert.notEqual(wt.session, w.session);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(thief.dataFrames().length, 0, 'the thief receives nothing of the victim');
    assert.equal(dev.closeCode, undefined, 'the victim stays connected');
    thief.close();
    dev.cut();
    await dev.closed;
    await assertNothingLost('victim', w);
  });

  it('a connection that never says hello is closed with 4003', async () => {
    const dev = await RawDevice.connect(g.info.wsUrl);
    assert.equal(await dev.closed, 4003);
  });

  it('a plain HTTP request on the device path gets 426, an upgrade elsewhere gets 404', async () => {
    const res = await fetch(`${g.info.url}/ws`);
    assert.equal(res.status, 426);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upgrade_required');
    await assert.rejects(RawDevice.connect(g.info.wsUrl.replace('/ws', '/elsewhere')), /404/);
  });
});
