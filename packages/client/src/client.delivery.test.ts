import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, isZerodropError } from '@zerodrop/protocol';
import { welcome } from './test-support/fake-websocket.js';
import { accept, connected, harness, nextEvent, record, sleep, until } from './test-support/harness.js';

describe('delivery', () => {
  it('a fresh session re-sends every unacknowledged message in order, renumbered from 1, and keeps ids', async () => {
    const h = await connected();
    assert.deepEqual(
      ['a', 'b', 'c'].map((v) => h.client.send(v)),
      [1, 2, 3],
    );
    h.socket.deliver({ t: 'ack', ack: 1 });
    h.socket.drop();

    const second = await h.next();
    second.open();
    assert.ok(second.framesOf('hello')[0]?.resume, 'it asked to resume');
    const fresh = nextEvent(h.client, 'fresh');
    second.deliver(welcome({ outcome: 'fresh', reason: 'expired', session: 's2', epoch: 'e2' }));
    assert.deepEqual(await fresh, ['expired']);
    assert.deepEqual(second.framesOf('msg'), [
      { t: 'msg', seq: 1, ack: 0, data: 'b' },
      { t: 'msg', seq: 2, ack: 0, data: 'c' },
    ]);

    let thirdAcked = false;
    void h.client.waitForAck(3).then(() => {
      thirdAcked = true;
    });
    assert.equal(h.client.send('d'), 4, 'ids keep counting across the fresh session');
    assert.deepEqual(second.framesOf('msg')[2], { t: 'msg', seq: 3, ack: 0, data: 'd' });
    await h.client.waitForAck(1);
    const acks = record(h.client, 'ack');
    second.deliver({ t: 'ack', ack: 1 });
    await h.client.waitForAck(2);
    assert.equal(thirdAcked, false, 'id 3 (now seq 2) is not acked by seq 1');
    second.deliver({ t: 'ack', ack: 2 });
    await until(() => thirdAcked, 'waitForAck(3) after the renumbered seq 2 is acked');
    second.deliver({ t: 'ack', ack: 3 });
    await h.client.waitForAck(4);
    assert.deepEqual(acks, [[2], [3], [4]], 'ack events speak in ids, not in wire seqs');
    assert.equal(h.client.stats().unacked, 0);

    const messages = record(h.client, 'message');
    second.deliverData(1, 'first of the new session');
    assert.deepEqual(messages, [['first of the new session', { seq: 1 }]], 'the receiver starts over at 1');
    await h.client.close();
  });

  it('a resumed session writes only what the server has not processed, and drops replayed duplicates', async () => {
    const h = await connected();
    const messages = record(h.client, 'message');
    h.client.send('one');
    h.client.send('two');
    h.client.send('three');
    h.socket.deliverData(1, 'm1');
    h.socket.deliverData(2, 'm2');
    h.socket.drop();

    const second = await h.next();
    second.open();
    assert.equal(second.framesOf('hello')[0]?.resume?.ack, 2);
    second.deliver(welcome({ outcome: 'resumed', ack: 2, replay: 2, replay_from: 2 }));
    assert.deepEqual(second.framesOf('msg'), [{ t: 'msg', seq: 3, ack: 2, data: 'three' }]);
    await h.client.waitForAck(2);

    second.deliverData(2, 'm2');
    second.deliverData(3, 'm3');
    assert.deepEqual(
      messages.map(([value, meta]) => [value, meta.seq]),
      [
        ['m1', 1],
        ['m2', 2],
        ['m3', 3],
      ],
    );
    assert.equal(h.client.stats().duplicatesDropped, 1);
    assert.equal(h.client.stats().delivered, 3);
    await until(() => second.framesOf('ack').some((f) => f.ack === 3), 'an ack for the replay');
    await h.client.close();
  });

  it('a duplicate makes an ack go out even when nothing new was delivered', async () => {
    const h = await connected({ ackDelayMs: 5 });
    h.socket.deliverData(1, 'x');
    await until(() => h.socket.framesOf('ack').length === 1, 'the first ack');
    h.socket.deliverData(1, 'x');
    await until(() => h.socket.framesOf('ack').length === 2, 'an ack answering the duplicate');
    assert.deepEqual(h.socket.framesOf('ack'), [
      { t: 'ack', ack: 1 },
      { t: 'ack', ack: 1 },
    ]);
    await h.client.close();
  });

  it('refuses a send beyond maxUnacked with buffer_full, and takes it once an ack frees room', async () => {
    const h = await connected({ maxUnacked: 3 });
    for (const v of [1, 2, 3]) h.client.send(v);
    assert.throws(
      () => h.client.send(4),
      (err: unknown) => isZerodropError(err, Errors.BUFFER_FULL),
    );
    assert.equal(h.socket.framesOf('msg').length, 3, 'the refused message was not written');
    h.socket.deliver({ t: 'ack', ack: 2 });
    assert.equal(h.client.send(4), 4);
    assert.equal(h.client.send(5), 5);
    assert.throws(() => h.client.send(6), /maximum number of unacknowledged/);
    assert.equal(h.client.stats().unacked, 3);
    await h.client.close();
  });

  it('keeps to the gateway max_unacked when it is below its own', async () => {
    const h = await connected({ maxUnacked: 10 }, { limits: { max_unacked: 2, max_frame_bytes: 1 << 20 } });
    h.client.send('a');
    h.client.send('b');
    assert.throws(
      () => h.client.send('c'),
      (err: unknown) => isZerodropError(err, Errors.BUFFER_FULL) && err.details?.maxUnacked === 2,
    );
    await h.client.close();
  });

  it('refuses sends while disconnected too, once the queue is full', async () => {
    const h = harness({ autoConnect: false, maxUnacked: 2 });
    h.client.send('a');
    h.client.send('b');
    assert.throws(
      () => h.client.send('c'),
      (err: unknown) => isZerodropError(err, Errors.BUFFER_FULL),
    );
    await h.client.close();
  });

  it('sends bytes as binary frames, from its own copy, and delivers binary as Uint8Array', async () => {
    const h = await connected();
    const bytes = new Uint8Array([1, 2, 3]);
    h.client.send(bytes);
    bytes[0] = 99;
    h.client.send(new Uint16Array([0x0102]).buffer);
    const [first, second] = h.socket.framesOf('bin');
    assert.deepEqual([...(first?.data ?? [])], [1, 2, 3], 'the caller may reuse its buffer after send');
    assert.equal(second?.data.length, 2);

    const received = nextEvent(h.client, 'message');
    h.socket.deliverData(1, new Uint8Array([9, 8, 7]));
    const [value, meta] = await received;
    assert.ok(value instanceof Uint8Array);
    assert.deepEqual([...value], [9, 8, 7]);
    assert.deepEqual(meta, { seq: 1 });

    h.socket.drop();
    const replayed = await accept(h, { outcome: 'resumed', ack: 0 });
    assert.deepEqual(
      [...(replayed.framesOf('bin')[0]?.data ?? [])],
      [1, 2, 3],
      'a replay sends the original bytes',
    );
    await h.client.close();
  });

  it('refuses a message larger than the gateway frame limit with frame_too_large', async () => {
    const h = await connected({}, { limits: { max_unacked: 200, max_frame_bytes: 100 } });
    h.client.send('x'.repeat(20));
    assert.throws(
      () => h.client.send('é'.repeat(40)),
      (err: unknown) => isZerodropError(err, Errors.FRAME_TOO_LARGE),
    );
    assert.throws(
      () => h.client.send(new Uint8Array(92)),
      (err: unknown) => isZerodropError(err, Errors.FRAME_TOO_LARGE),
    );
    assert.equal(h.client.stats().unacked, 1);
    const tooBig = nextEvent(h.client, 'error');
    h.socket.drop(1009);
    assert.ok(isZerodropError((await tooBig)[0], Errors.FRAME_TOO_LARGE), 'a 1009 close is reported');
    await h.client.close();
  });

  it('rejects waitForAck for an id never handed out', async () => {
    const h = await connected();
    await assert.rejects(h.client.waitForAck(1), RangeError);
    h.client.send('a');
    await assert.rejects(h.client.waitForAck(2), RangeError);
    await h.client.close();
  });

  it('a message listener that throws is reported as an error and the message still counts as delivered', async () => {
    const h = await connected({ ackDelayMs: 1 });
    h.client.on('message', () => {
      throw new Error('app bug');
    });
    const errors = record(h.client, 'error');
    h.socket.deliverData(1, 'boom');
    assert.deepEqual(
      errors.map(([e]) => e.message),
      ['app bug'],
    );
    await until(() => h.socket.framesOf('ack').some((f) => f.ack === 1), 'the ack');
    h.socket.deliverData(2, 'next');
    assert.equal(h.client.stats().delivered, 2);
    assert.equal(errors.length, 2);
    await h.client.close();
  });
});

describe('ack batching', () => {
  it('acks a burst of deliveries once, after ackDelayMs', async () => {
    const h = await connected({ ackDelayMs: 30 });
    for (let seq = 1; seq <= 5; seq++) h.socket.deliverData(seq, { seq });
    assert.deepEqual(h.socket.framesOf('ack'), [], 'no ack per message');
    await until(() => h.socket.framesOf('ack').length > 0, 'the batched ack');
    await sleep(40);
    assert.deepEqual(h.socket.framesOf('ack'), [{ t: 'ack', ack: 5 }]);
    await h.client.close();
  });

  it('acks at once when ackBatchSize deliveries are waiting', async () => {
    const h = await connected({ ackDelayMs: 10_000, ackBatchSize: 4 });
    for (let seq = 1; seq <= 9; seq++) h.socket.deliverData(seq, seq);
    assert.deepEqual(h.socket.framesOf('ack'), [
      { t: 'ack', ack: 4 },
      { t: 'ack', ack: 8 },
    ]);
    await h.client.close();
  });

  it('piggybacks the ack on outgoing data instead of sending one on its own', async () => {
    const h = await connected({ ackDelayMs: 10 });
    h.socket.deliverData(1, 'q1');
    h.socket.deliverData(2, 'q2');
    h.client.send('answer');
    assert.deepEqual(h.socket.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 2, data: 'answer' }]);
    await sleep(30);
    assert.deepEqual(h.socket.framesOf('ack'), [], 'the piggybacked ack made the standalone one unnecessary');
    await h.client.close();
  });

  it('acks a message with the reply its handler sends, and sends no ack of its own after it', async () => {
    const h = await connected({ ackDelayMs: 10 });
    h.client.on('message', (value) => h.client.send({ re: value }));
    h.socket.deliverData(1, 'q1');
    h.socket.deliverData(2, 'q2');
    assert.deepEqual(h.socket.framesOf('msg'), [
      { t: 'msg', seq: 1, ack: 1, data: { re: 'q1' } },
      { t: 'msg', seq: 2, ack: 2, data: { re: 'q2' } },
    ]);
    await sleep(40);
    assert.deepEqual(h.socket.framesOf('ack'), [], 'every ack rode on a reply');
    await h.client.close();
  });

  it('still acks a delivery that follows one whose ack rode on data', async () => {
    const h = await connected({ ackDelayMs: 20 });
    h.socket.deliverData(1, 'q1');
    h.client.send('answer');
    h.socket.deliverData(2, 'q2');
    await until(() => h.socket.framesOf('ack').length > 0, 'the ack for the second delivery');
    await sleep(40);
    assert.deepEqual(h.socket.framesOf('ack'), [{ t: 'ack', ack: 2 }]);
    assert.deepEqual(h.socket.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 1, data: 'answer' }]);
    await h.client.close();
  });

  it('applies acks piggybacked on the server data and pings', async () => {
    const h = await connected();
    h.client.send('a');
    h.client.send('b');
    h.client.send('c');
    h.socket.deliverData(1, 'x', 1);
    assert.equal(h.client.stats().unacked, 2);
    h.socket.deliver({ t: 'ping', id: 1, ack: 3 });
    assert.equal(h.client.stats().unacked, 0);
    await h.client.close();
  });
});

describe('protocol violations by the server', () => {
  it('a sequence gap closes the socket with 4002 and resumes from the last delivered message', async () => {
    const h = await connected();
    const messages = record(h.client, 'message');
    const error = nextEvent(h.client, 'error');
    h.socket.deliverData(1, 'a');
    h.socket.deliverData(3, 'c');
    assert.ok(isZerodropError((await error)[0], Errors.SEQUENCE_GAP));
    assert.equal(h.socket.closedWith?.code, 4002);
    assert.equal(messages.length, 1, 'the message after the gap is not delivered');
    const second = await h.next();
    second.open();
    assert.equal(second.framesOf('hello')[0]?.resume?.ack, 1);
    await h.client.close();
  });

  it('an ack for a seq never sent closes the socket with 4002 and reconnects', async () => {
    const h = await connected();
    h.client.send('a');
    const error = nextEvent(h.client, 'error');
    h.socket.deliver({ t: 'ack', ack: 2 });
    assert.ok(isZerodropError((await error)[0], Errors.ACK_OUT_OF_RANGE));
    assert.equal(h.socket.closedWith?.code, 4002);
    const second = await accept(h, { outcome: 'resumed', ack: 0 });
    assert.deepEqual(second.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 0, data: 'a' }]);
    await h.client.close();
  });

  it('a resumed welcome with an impossible ack is answered by a fresh session that re-sends the queue', async () => {
    const h = await connected();
    h.client.send('a');
    h.socket.drop();
    const second = await h.next();
    second.open();
    second.deliver(welcome({ outcome: 'resumed', ack: 5 }));
    assert.equal(second.closedWith?.code, 4002);
    assert.deepEqual(second.framesOf('msg'), [], 'nothing is written on a session we disagree with');
    const third = await h.next();
    third.open();
    assert.equal(third.framesOf('hello')[0]?.resume, undefined, 'the next hello starts a fresh session');
    third.deliver(welcome({ outcome: 'fresh', session: 's2' }));
    assert.deepEqual(third.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 0, data: 'a' }]);
    third.deliver({ t: 'ack', ack: 1 });
    await h.client.waitForAck(1);
    await h.client.close();
  });

  it('a resumed welcome below an ack already received also starts a fresh session', async () => {
    const h = await connected();
    h.client.send('a');
    h.client.send('b');
    h.socket.deliver({ t: 'ack', ack: 2 });
    h.client.send('c');
    h.socket.drop();
    const second = await h.next();
    second.open();
    const error = nextEvent(h.client, 'error');
    second.deliver(welcome({ outcome: 'resumed', ack: 1 }));
    assert.ok(isZerodropError((await error)[0], Errors.ACK_OUT_OF_RANGE));
    assert.equal(second.closedWith?.code, 4002);
    assert.deepEqual(second.framesOf('msg'), []);
    const third = await h.next();
    third.open();
    assert.equal(third.framesOf('hello')[0]?.resume, undefined, 'the next hello starts a fresh session');
    third.deliver(welcome({ outcome: 'fresh', session: 's2' }));
    assert.deepEqual(third.framesOf('msg'), [{ t: 'msg', seq: 1, ack: 0, data: 'c' }]);
    await h.client.close();
  });

  it('data before the welcome is a protocol violation', async () => {
    const h = harness();
    const socket = await h.next();
    socket.open();
    const error = nextEvent(h.client, 'error');
    socket.deliverData(1, 'early');
    assert.ok(isZerodropError((await error)[0], Errors.HANDSHAKE_REQUIRED));
    assert.equal(socket.closedWith?.code, 4002);
    await h.client.close();
  });
});
