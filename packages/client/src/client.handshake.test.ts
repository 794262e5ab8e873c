import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HelloFrame } from '@zerodrop/protocol';
import { welcome } from './test-support/fake-websocket.js';
import { accept, connected, harness, nextEvent, record } from './test-support/harness.js';

describe('handshake', () => {
  it('a first connection says hello with the device id and asks for no resume', async () => {
    const h = harness();
    const statuses = record(h.client, 'status');
    const socket = await h.next();
    assert.equal(h.client.status, 'connecting');
    assert.equal(socket.url, 'ws://gateway.test/ws');
    assert.equal(socket.binaryType, 'arraybuffer', 'binary must arrive as ArrayBuffer, never Blob');
    assert.deepEqual(socket.frames(), [], 'nothing is written before the socket opens');
    socket.open();
    assert.deepEqual(socket.frames(), [{ t: 'hello', v: 1, device: 'bear-1' }]);
    const fresh = nextEvent(h.client, 'fresh');
    socket.deliver(welcome({ session: 'sess-a', epoch: 'ep-1' }));
    assert.deepEqual(await fresh, [undefined]);
    assert.deepEqual(statuses, [['open']]);
    assert.deepEqual(h.client.session, { id: 'sess-a', epoch: 'ep-1' });
    const stats = h.client.stats();
    assert.equal(stats.connects, 1);
    assert.equal(stats.freshSessions, 1);
    assert.equal(stats.lastWelcome?.session, 'sess-a');
    assert.ok(stats.lastWelcome && !('token' in stats.lastWelcome), 'stats never carry the resume token');
    await h.client.close();
  });

  it('a reconnect resumes with the newest token and the highest seq delivered to the app', async () => {
    const h = await connected({}, { token: 'tok-1' });
    h.socket.deliverData(1, 'a');
    h.socket.deliverData(2, 'b');
    h.socket.drop();

    const second = await h.next();
    second.open();
    assert.deepEqual(second.framesOf('hello')[0], {
      t: 'hello',
      v: 1,
      device: 'bear-1',
      resume: { session: 's1', epoch: 'e1', token: 'tok-1', ack: 2 },
    } satisfies HelloFrame);
    const resumed = nextEvent(h.client, 'resumed');
    second.deliver(welcome({ outcome: 'resumed', token: 'tok-2', replay_from: 3 }));
    await resumed;
    second.drop(1001);

    const third = await h.next();
    third.open();
    assert.equal(third.framesOf('hello')[0]?.resume?.token, 'tok-2', 'every handshake hands out a new token');
    assert.equal(h.client.stats().resumes, 1);
    await h.client.close();
  });

  it('answers a ping with a pong carrying the same id, before and after the welcome', async () => {
    const h = harness();
    const socket = await h.next();
    socket.open();
    socket.deliver({ t: 'ping', id: 7 });
    socket.deliver(welcome());
    socket.deliver({ t: 'ping', id: 8, ack: 0 });
    assert.deepEqual(socket.framesOf('pong'), [
      { t: 'pong', id: 7 },
      { t: 'pong', id: 8 },
    ]);
    await h.client.close();
  });

  it('emits welcome, then the outcome, after the status turns open', async () => {
    const h = harness();
    const order: string[] = [];
    h.client.on('status', (s) => order.push(`status:${s}`));
    h.client.on('welcome', () => order.push('welcome'));
    h.client.on('fresh', () => order.push('fresh'));
    await accept(h);
    assert.deepEqual(order, ['status:open', 'welcome', 'fresh']);
    await h.client.close();
  });

  it('reports an error frame from the server as a non-fatal error event', async () => {
    const h = await connected();
    const error = nextEvent(h.client, 'error');
    h.socket.deliver({ t: 'error', code: 'malformed_frame', message: 'bad frame' });
    const [err] = await error;
    assert.equal((err as { code?: string }).code, 'malformed_frame');
    assert.equal(h.client.status, 'open');
    await h.client.close();
  });

  it('does not dial before connect() when autoConnect is false', async () => {
    const h = harness({ autoConnect: false });
    assert.equal(h.client.status, 'closed');
    const id = h.client.send({ queued: true });
    assert.equal(id, 1, 'send works while disconnected');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.sockets.length, 0);
    h.client.connect();
    assert.equal(h.client.status, 'connecting');
    const socket = await accept(h);
    assert.deepEqual(socket.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 0, data: { queued: true } }]);
    await h.client.close();
  });
});
