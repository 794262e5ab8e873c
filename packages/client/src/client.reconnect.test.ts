import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, isZerodropError } from '@zerodrop/protocol';
import { welcome } from './test-support/fake-websocket.js';
import { accept, connected, harness, nextEvent, record, sleep, until } from './test-support/harness.js';

describe('reconnect and backoff', () => {
  it('backs off exponentially with full jitter up to maxMs, and starts over after a welcome', async () => {
    const h = harness({ backoff: { initialMs: 8, maxMs: 32, factor: 2 }, random: () => 0.5 });
    const reconnects = record(h.client, 'reconnect');
    const statuses = record(h.client, 'status');
    for (let i = 0; i < 5; i++) (await h.next()).drop(1006); // refused upgrade / connection refused
    await accept(h);
    assert.deepEqual(reconnects, [
      [1, 4],
      [2, 8],
      [3, 16],
      [4, 16],
      [5, 16],
    ]);
    assert.deepEqual(statuses, [['reconnecting'], ['open']]);

    h.sockets.at(-1)?.drop(1006);
    await h.next();
    assert.deepEqual(reconnects.at(-1), [1, 4], 'a successful welcome resets the attempt count');
    assert.equal(h.client.stats().reconnects, 6);
    await h.client.close();
  });

  it('a socket error ends the attempt even when no close event follows it', async () => {
    const h = harness();
    const errors = record(h.client, 'error');
    (await h.next()).failSilently();
    assert.equal(h.client.status, 'reconnecting');
    assert.match(errors[0]?.[0].message ?? '', /network error/);
    await accept(h);
    assert.equal(h.client.status, 'open');
    await h.client.close();
  });

  it('a close code in the reconnect range reconnects and resumes', async () => {
    for (const code of [1001, 1006, 1011, 4001, 4002, 4004, 4005]) {
      const h = await connected();
      h.socket.drop(code);
      assert.equal(h.client.status, 'reconnecting', `after ${code}`);
      const next = await h.next();
      next.open();
      assert.ok(next.framesOf('hello')[0]?.resume, `resume after ${code}`);
      await h.client.close();
    }
  });

  it('a close code in the stop range closes the client with the matching error and no reconnect', async () => {
    const cases: [number, string][] = [
      [4500, 'session_replaced'],
      [4501, 'unsupported_version'],
      [4502, 'unauthorized'],
      [4503, 'invalid_handshake'],
      [4599, 'stopped_by_server'],
      [1008, 'unauthorized'],
    ];
    for (const [code, expected] of cases) {
      const h = await connected();
      const errors = record(h.client, 'error');
      h.socket.drop(code, 'because');
      assert.equal(h.client.status, 'closed', `after ${code}`);
      const err = errors[0]?.[0] as { code?: string; closeCode?: number; details?: unknown } | undefined;
      assert.equal(err?.code, expected, `error code after ${code}`);
      assert.equal(err?.closeCode, code);
      await sleep(10);
      assert.equal(h.sockets.length, 1, `no reconnect after ${code}`);
      h.client.send('still queued');
      h.client.connect();
      const again = await h.next();
      again.open();
      assert.ok(again.framesOf('hello')[0]?.resume, 'connect() after a stop resumes the session');
      await h.client.close();
    }
  });

  it('a reconnect request closes with 4000 after a random part of its delay and comes back at once', async () => {
    const h = await connected({ random: () => 0.5, backoff: { initialMs: 5000, maxMs: 5000 } });
    h.client.send('in flight');
    const reconnect = nextEvent(h.client, 'reconnect');
    const started = Date.now();
    h.socket.deliver({ t: 'reconnect', reason: 'draining', delay_ms: 60 });
    const closedWith = () => h.socket.closedWith;
    assert.equal(closedWith(), undefined, 'it does not leave before its jittered moment');
    assert.deepEqual(await reconnect, [1, 0], 'no backoff for a requested move');
    assert.ok(Date.now() - started >= 25, 'it waited random × delay_ms');
    assert.equal(closedWith()?.code, 4000);
    const next = await h.next();
    next.open();
    assert.equal(next.framesOf('hello')[0]?.resume?.session, 's1');
    next.deliver(welcome({ outcome: 'resumed', ack: 0 }));
    assert.deepEqual(next.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 0, data: 'in flight' }]);
    await h.client.close();
  });

  it('a server close with 4000 reconnects with backoff (the gateway also uses it when its store fails)', async () => {
    const h = await connected({ backoff: { initialMs: 20, maxMs: 20 }, random: () => 0.5 });
    const reconnect = nextEvent(h.client, 'reconnect');
    h.socket.drop(4000, 'store_unavailable');
    assert.deepEqual(await reconnect, [1, 10]);
    await h.next();
    await h.client.close();
  });
});

describe('liveness', () => {
  it('a silent server is dropped after 2.5 heartbeats, and the client reconnects', async () => {
    const h = await connected({}, { heartbeat_ms: 20 });
    const error = nextEvent(h.client, 'error');
    const started = Date.now();
    const [err] = await error;
    const waited = Date.now() - started;
    assert.ok(isZerodropError(err, Errors.HEARTBEAT_TIMEOUT));
    assert.ok(waited >= 45, `waited ${waited} ms`);
    assert.equal(h.socket.closedWith?.code, 4001, 'a browser socket cannot terminate: it closes with 4001');
    (await h.next()).open();
    await h.client.close();
  });

  it('any frame from the server keeps the connection alive', async () => {
    const h = await connected({}, { heartbeat_ms: 20 });
    const errors = record(h.client, 'error');
    for (let id = 1; id <= 15; id++) {
      h.socket.deliver({ t: 'ping', id });
      await sleep(10);
    }
    assert.deepEqual(errors, []);
    assert.equal(h.socket.framesOf('pong').length, 15);
    assert.equal(h.sockets.length, 1);
    await h.client.close();
  });

  it('a handshake without a welcome within handshakeTimeoutMs is abandoned and retried', async () => {
    const h = harness({ handshakeTimeoutMs: 30 });
    const socket = await h.next();
    socket.open();
    const [err] = await nextEvent(h.client, 'error');
    assert.ok(isZerodropError(err, Errors.HANDSHAKE_TIMEOUT));
    assert.equal(socket.closedWith?.code, 4003);
    await h.next();
    await h.client.close();
  });

  it('a socket that never opens also runs into the handshake timeout', async () => {
    const h = harness({ handshakeTimeoutMs: 20 });
    await h.next();
    const [err] = await nextEvent(h.client, 'error');
    assert.ok(isZerodropError(err, Errors.HANDSHAKE_TIMEOUT));
    await h.next();
    await h.client.close();
  });
});

describe('close()', () => {
  it('closes the socket with 1000, rejects waiters and refuses further sends', async () => {
    const h = await connected();
    const id = h.client.send('never acked');
    const waiting = h.client.waitForAck(id);
    const closing = h.client.close();
    assert.equal(h.client.status, 'closed');
    await assert.rejects(waiting, (err: unknown) => isZerodropError(err, Errors.CLIENT_CLOSED));
    await closing;
    assert.equal(h.socket.closedWith?.code, 1000);
    assert.throws(
      () => h.client.send('late'),
      (err: unknown) => isZerodropError(err, Errors.CLIENT_CLOSED),
    );
    await assert.rejects(h.client.waitForAck(id), (err: unknown) =>
      isZerodropError(err, Errors.CLIENT_CLOSED),
    );
    assert.throws(
      () => h.client.connect(),
      (err: unknown) => isZerodropError(err, Errors.CLIENT_CLOSED),
    );
    await sleep(10);
    assert.equal(h.sockets.length, 1, 'no reconnect after close()');
  });

  it('sends the ack it owes before closing', async () => {
    const h = await connected({ ackDelayMs: 10_000 });
    h.socket.deliverData(1, 'x');
    await h.client.close();
    assert.deepEqual(h.socket.framesOf('ack'), [{ t: 'ack', ack: 1 }]);
  });

  it('stops a pending reconnect', async () => {
    const h = await connected({ backoff: { initialMs: 50, maxMs: 50 }, random: () => 0.99 });
    h.socket.drop();
    await h.client.close();
    await sleep(70);
    assert.equal(h.sockets.length, 1);
  });

  it('while a socket is still connecting, closes it and opens no other', async () => {
    const h = harness();
    const socket = await h.next();
    await h.client.close();
    assert.equal(socket.closedWith?.code, 1000);
    await sleep(10);
    assert.equal(h.sockets.length, 1);
  });

  it('before the first socket exists, no socket is ever created', async () => {
    const h = harness();
    await h.client.close();
    await sleep(10);
    assert.equal(h.sockets.length, 0);
    await until(() => h.client.status === 'closed', 'closed');
  });
});
