import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { DeadLetter } from './app.js';
import { getJson, RawDevice, startGateway, waitFor } from './test-support/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('session resume', () => {
  const open: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const g of open) await g.close();
  });

  it('hands out session, epoch, token and starting sequence numbers in one welcome', async () => {
    const g = await startGateway();
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    const w = await dev.hello('bear-welcome');
    assert.equal(w.outcome, 'fresh');
    assert.equal(w.reason, undefined);
    assert.match(w.session, /^s_/);
    assert.ok(w.epoch.length > 0 && w.token.length >= 22, 'token carries at least 128 bits');
    assert.equal(w.ack, 0);
    assert.equal(w.replay, 0);
    assert.equal(w.replay_from, 1);
    assert.equal(w.limits.max_unacked, 200);
    assert.equal(w.instance, 'test-a');
    dev.close();
  });

  it('a device offline for a while resumes and receives what was sent meanwhile, once, in order', async () => {
    const g = await startGateway();
    open.push(g);
    const first = await RawDevice.connect(g.info.wsUrl);
    const w = await first.hello('bear-offline');
    await g.gateway.send('bear-offline', { n: 1 });
    const m1 = await first.next('msg');
    assert.deepEqual(m1.data, { n: 1 });
    first.send({ t: 'ack', ack: 1 });
    await sleep(50);
    first.cut();
    await first.closed;
    // Sent while the device is away: stored, waiting for its resume.
    for (let n = 2; n <= 6; n++) await g.gateway.send('bear-offline', { n });
    await g.gateway.send('bear-offline', new Uint8Array([7, 7, 7]));
    await sleep(300);

    const second = await RawDevice.connect(g.info.wsUrl);
    const w2 = await second.hello('bear-offline', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 1,
    });
    assert.equal(w2.outcome, 'resumed');
    assert.equal(w2.session, w.session);
    assert.equal(w2.epoch, w.epoch);
    assert.notEqual(w2.token, w.token, 'the token rotates on every resume');
    assert.equal(w2.replay, 6);
    assert.equal(w2.replay_from, 2);
    await waitFor(() => second.dataFrames().length === 6, 'the replay');
    const frames = second.dataFrames();
    assert.deepEqual(
      frames.map((f) => f.seq),
      [2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual(
      frames.slice(0, 5).map((f) => f.data),
      [{ n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }, { n: 6 }],
    );
    assert.equal(frames[5]?.t, 'bin');
    assert.deepEqual(Array.from(frames[5]!.data as Uint8Array), [7, 7, 7]);

    // Once the device used the connection (here: an ack), its old token no longer works.
    second.send({ t: 'ack', ack: 7 });
    await sleep(50);
    const third = await RawDevice.connect(g.info.wsUrl);
    const w3 = await third.hello('bear-offline', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 7,
    });
    assert.equal(w3.outcome, 'fresh');
    assert.equal(w3.reason, 'unauthorized');
    const { body } = await getJson<{ ws_metrics: Record<string, number> }>(
      `${g.info.url}/api/v1/esp32/metrics`,
    );
    assert.equal(body.ws_metrics.ws_resumes, 1);
    assert.equal(body.ws_metrics.ws_reconnects, 2);
    second.close();
    third.close();
  });

  it('a resume after the TTL is fresh with reason expired, and the lost messages are counted and dead-lettered', async () => {
    const letters: DeadLetter[] = [];
    const g = await startGateway(
      { resumeTtlMs: 2500, heartbeatMs: 100, heartbeatTimeoutMs: 1000, expirySweepMs: 50 },
      { app: { onDeadLetter: (l) => void letters.push(l) } },
    );
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    const w = await dev.hello('bear-expire');
    await g.gateway.send('bear-expire', { lost: 1 });
    await g.gateway.send('bear-expire', { lost: 2 });
    await waitFor(() => dev.dataFrames().length === 2, 'two messages');
    dev.cut(); // never acked
    await dev.closed;
    await waitFor(() => letters.length === 2, 'the dead letters', 8000);
    assert.deepEqual(
      letters.map((l) => [l.seq, l.direction, l.reason, l.data]),
      [
        [1, 'server_to_device', 'expired', { lost: 1 }],
        [2, 'server_to_device', 'expired', { lost: 2 }],
      ],
    );
    const again = await RawDevice.connect(g.info.wsUrl);
    const w2 = await again.hello('bear-expire', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 0,
    });
    assert.equal(w2.outcome, 'fresh');
    assert.equal(w2.reason, 'expired');
    assert.notEqual(w2.session, w.session);
    const { body } = await getJson<{ ws_metrics: Record<string, unknown> }>(
      `${g.info.url}/api/v1/esp32/metrics`,
    );
    assert.equal(body.ws_metrics.dropped_messages, 2);
    assert.equal((body.ws_metrics.resume_failures_by_reason as Record<string, number>).expired, 1);
    again.close();
  });

  it('explains every other failed resume: unknown session, epoch mismatch, another device, wrong token', async () => {
    const g = await startGateway();
    open.push(g);
    const a = await RawDevice.connect(g.info.wsUrl);
    const wa = await a.hello('bear-a');
    const gen = wa.epoch.slice(0, wa.epoch.lastIndexOf('.'));

    const cases: [string, { session: string; epoch: string; token: string; ack: number }, string][] = [
      ['bear-x', { session: 's_nope', epoch: `${gen}.zzz`, token: 't', ack: 0 }, 'unknown_session'],
      ['bear-y', { session: 's_nope', epoch: 'othergeneration.zzz', token: 't', ack: 0 }, 'epoch_mismatch'],
      ['bear-z', { session: wa.session, epoch: wa.epoch, token: wa.token, ack: 0 }, 'unauthorized'],
      ['bear-a', { session: wa.session, epoch: `${gen}.other`, token: wa.token, ack: 0 }, 'epoch_mismatch'],
    ];
    for (const [device, resume, reason] of cases) {
      const d = await RawDevice.connect(g.info.wsUrl);
      const w = await d.hello(device, resume);
      assert.equal(w.outcome, 'fresh', device);
      assert.equal(w.reason, reason, device);
      d.close();
    }
    const { body } = await getJson<{
      ws_metrics: { resume_failures: number; resume_failures_by_reason: Record<string, number> };
    }>(`${g.info.url}/api/v1/esp32/metrics`);
    assert.equal(body.ws_metrics.resume_failures, 4);
    assert.deepEqual(body.ws_metrics.resume_failures_by_reason, {
      expired: 0,
      unknown_session: 1,
      epoch_mismatch: 2,
      store_unavailable: 0,
      unauthorized: 1,
    });
    a.close();
  });

  it('after a gateway restart with the memory store, a resume is an honest fresh with epoch_mismatch', async () => {
    const g1 = await startGateway();
    const dev = await RawDevice.connect(g1.info.wsUrl);
    const w = await dev.hello('bear-restart');
    await g1.close();
    await dev.closed;
    const g2 = await startGateway();
    open.push(g2);
    const again = await RawDevice.connect(g2.info.wsUrl);
    const w2 = await again.hello('bear-restart', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 0,
    });
    assert.equal(w2.outcome, 'fresh');
    assert.equal(w2.reason, 'epoch_mismatch');
    again.close();
  });

  it('a device that lost its state gets a fresh session that still carries its undelivered messages', async () => {
    const g = await startGateway();
    open.push(g);
    const dev = await RawDevice.connect(g.info.wsUrl);
    await dev.hello('bear-reboot');
    for (let n = 1; n <= 3; n++) await g.gateway.send('bear-reboot', { n });
    await waitFor(() => dev.dataFrames().length === 3, 'three messages');
    dev.send({ t: 'ack', ack: 1 });
    await sleep(50);
    dev.cut();
    await dev.closed;
    const rebooted = await RawDevice.connect(g.info.wsUrl);
    const w = await rebooted.hello('bear-reboot');
    assert.equal(w.outcome, 'fresh');
    assert.equal(w.replay, 2);
    await waitFor(() => rebooted.dataFrames().length === 2, 'the carried messages');
    assert.deepEqual(
      rebooted.dataFrames().map((f) => [f.seq, f.data]),
      [
        [1, { n: 2 }],
        [2, { n: 3 }],
      ],
    );
    rebooted.close();
  });

  it('a welcome lost to a cut does not cost the session: the token the device still holds is accepted once', async () => {
    const g = await startGateway();
    open.push(g);
    const first = await RawDevice.connect(g.info.wsUrl);
    const w1 = await first.hello('bear-lost-welcome');
    await g.gateway.send('bear-lost-welcome', { n: 1 });
    await waitFor(() => first.dataFrames().length === 1, 'a message');
    first.cut();
    await first.closed;
    // This welcome is "lost": the device cuts before it reads it, so it only knows w1's token.
    const second = await RawDevice.connect(g.info.wsUrl);
    const lost = await second.hello('bear-lost-welcome', {
      session: w1.session,
      epoch: w1.epoch,
      token: w1.token,
      ack: 0,
    });
    assert.equal(lost.outcome, 'resumed');
    second.cut();
    await second.closed;
    const third = await RawDevice.connect(g.info.wsUrl);
    const w3 = await third.hello('bear-lost-welcome', {
      session: w1.session,
      epoch: w1.epoch,
      token: w1.token,
      ack: 0,
    });
    assert.equal(w3.outcome, 'resumed', 'the token the device holds still works');
    await waitFor(() => third.dataFrames().length === 1, 'the replay');
    third.send({ t: 'ack', ack: 1 });
    await sleep(50);
    third.cut();
    await third.closed;
    const fourth = await RawDevice.connect(g.info.wsUrl);
    const w4 = await fourth.hello('bear-lost-welcome', {
      session: w1.session,
      epoch: w1.epoch,
      token: w1.token,
      ack: 1,
    });
    assert.equal(w4.outcome, 'fresh', 'after the device used its new token, the old one is refused');
    assert.equal(w4.reason, 'unauthorized');
    fourth.close();
  });

  it('when a device connects twice, the newer connection wins and the older is closed with 4500', async () => {
    const g = await startGateway();
    open.push(g);
    const older = await RawDevice.connect(g.info.wsUrl);
    const w = await older.hello('bear-twice');
    await g.gateway.send('bear-twice', { n: 1 });
    await waitFor(() => older.dataFrames().length === 1, 'first message');
    const newer = await RawDevice.connect(g.info.wsUrl);
    const w2 = await newer.hello('bear-twice', {
      session: w.session,
      epoch: w.epoch,
      token: w.token,
      ack: 0,
    });
    assert.equal(w2.outcome, 'resumed');
    assert.equal(await older.closed, 4500);
    await waitFor(() => newer.dataFrames().length === 1, 'the replayed message');
    assert.deepEqual(newer.dataFrames()[0]?.data, { n: 1 });
    newer.close();
  });
});
