/**
 * Example-based tests of the reliable-channel core: one behaviour of `ReliableSender` or
 * `ReliableReceiver` per test, driven by hand. `channel.property.test.ts` checks the same contract
 * over random interleavings of two endpoints; these examples say what each rule means.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Entry, ReliableReceiver, ReliableSender } from './channel.js';
import { DEFAULT_MAX_UNACKED, MAX_SEQ } from './constants.js';

/** Accept each payload and return the sequence numbers assigned; fails the test on a refusal. */
function acceptAll(sender: ReliableSender<string>, ...payloads: string[]): number[] {
  return payloads.map((p) => {
    const r = sender.accept(p);
    assert.ok(r.ok, `accept(${p}) was refused`);
    return r.seq;
  });
}

function seqs(entries: readonly Entry<string>[]): number[] {
  return entries.map((e) => e.seq);
}

function entries(from: number, ...payloads: string[]): Entry<string>[] {
  return payloads.map((payload, i) => ({ seq: from + i, payload }));
}

describe('ReliableSender', () => {
  test('messages are numbered 1, 2, 3… in the order they are accepted', () => {
    const sender = new ReliableSender<string>();
    assert.deepEqual(acceptAll(sender, 'a', 'b', 'c'), [1, 2, 3]);
    assert.equal(sender.lastSeq, 3);
    assert.equal(sender.size, 3);
    assert.deepEqual(sender.unacked(), entries(1, 'a', 'b', 'c'));
  });

  test("the default bound is the runbook's 200 messages", () => {
    const sender = new ReliableSender<number>();
    assert.equal(sender.maxUnacked, DEFAULT_MAX_UNACKED);
    for (let i = 0; i < 200; i++) assert.ok(sender.accept(i).ok);
    assert.deepEqual(sender.accept(200), { ok: false, code: 'buffer_full' });
  });

  test('a bound that is not a positive integer is refused at construction', () => {
    for (const maxUnacked of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new ReliableSender({ maxUnacked }), RangeError, `maxUnacked ${maxUnacked}`);
    }
  });

  test('a send beyond the bound is refused with buffer_full and nothing accepted is evicted', () => {
    const sender = new ReliableSender<string>({ maxUnacked: 3 });
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    sender.takeWritable();
    assert.equal(sender.isFull, true);

    assert.deepEqual(sender.accept('d'), { ok: false, code: 'buffer_full' });
    assert.deepEqual(sender.accept('e'), { ok: false, code: 'buffer_full' });

    assert.equal(sender.size, 3);
    assert.equal(sender.lastSeq, 3, 'a refused message takes no sequence number');
    assert.deepEqual(sender.unacked(), entries(1, 'a', 'b', 'c'));
  });

  test('a slot freed by an ack takes the next message with the next sequence number', () => {
    const sender = new ReliableSender<string>({ maxUnacked: 2 });
    acceptAll(sender, 'a', 'b');
    sender.confirm(2);
    sender.takeWritable();
    assert.equal(sender.accept('c').ok, false);

    assert.deepEqual(sender.onAck(1), { ok: true, released: 1 });
    assert.equal(sender.isFull, false);
    assert.deepEqual(sender.accept('c'), { ok: true, seq: 3 });
    assert.deepEqual(sender.unacked(), entries(2, 'b', 'c'));
  });

  test('entries are written only once confirmed, in order', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    assert.deepEqual(sender.takeWritable(), [], 'nothing is durable yet');

    sender.confirm(2);
    assert.equal(sender.durable, 2);
    assert.deepEqual(sender.takeWritable(), entries(1, 'a', 'b'));
    assert.equal(sender.written, 2);
    assert.deepEqual(sender.takeWritable(), [], 'a written entry is not handed out twice on one transport');

    sender.confirm(3);
    assert.deepEqual(sender.takeWritable(), entries(3, 'c'));
  });

  test('a confirm below the durable mark changes nothing', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    sender.confirm(1);
    assert.equal(sender.durable, 3);
    assert.deepEqual(seqs(sender.takeWritable()), [1, 2, 3]);
  });

  test('confirming a sequence never accepted is a caller bug', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a');
    assert.throws(() => sender.confirm(2), RangeError);
    assert.equal(sender.durable, 0);
  });

  test('an ack for a sequence never written is out of range', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b');
    assert.deepEqual(sender.onAck(1), { ok: false, code: 'ack_out_of_range' }, 'accepted but not durable');

    sender.confirm(2);
    assert.deepEqual(sender.onAck(1), { ok: false, code: 'ack_out_of_range' }, 'durable but not written');

    sender.takeWritable();
    assert.deepEqual(sender.onAck(3), { ok: false, code: 'ack_out_of_range' }, 'beyond the last sequence');
    assert.equal(sender.size, 2, 'a refused ack releases nothing');
    assert.deepEqual(sender.onAck(2), { ok: true, released: 2 });
  });

  test('a cumulative ack releases every message up to it', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c', 'd');
    sender.confirm(4);
    sender.takeWritable();

    assert.deepEqual(sender.onAck(3), { ok: true, released: 3 });
    assert.equal(sender.acked, 3);
    assert.deepEqual(sender.unacked(), entries(4, 'd'));
  });

  test('a stale or repeated ack releases nothing', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    sender.takeWritable();
    sender.onAck(2);

    assert.deepEqual(sender.onAck(2), { ok: true, released: 0 });
    assert.deepEqual(sender.onAck(1), { ok: true, released: 0 });
    assert.deepEqual(sender.onAck(0), { ok: true, released: 0 });
    assert.equal(sender.acked, 2, 'the ack never goes backwards');
    assert.deepEqual(seqs(sender.unacked()), [3]);
  });

  test("after resume the sender replays everything above the peer's ack", () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c', 'd');
    sender.confirm(4);
    assert.deepEqual(seqs(sender.takeWritable()), [1, 2, 3, 4]);
    sender.detach();

    assert.deepEqual(sender.resume(2), { ok: true, released: 2 });
    assert.deepEqual(sender.takeWritable(), entries(3, 'c', 'd'));
    assert.deepEqual(sender.takeWritable(), [], 'the replay happens once per transport');
  });

  test('a resume replays only what is durable; the rest follows once confirmed', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(1);
    sender.takeWritable();

    sender.resume(0);
    assert.deepEqual(seqs(sender.takeWritable()), [1]);
    sender.confirm(3);
    assert.deepEqual(seqs(sender.takeWritable()), [2, 3]);
  });

  test('a resume with an ack beyond anything written is refused and releases nothing', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b');
    sender.confirm(1);
    sender.takeWritable();

    assert.deepEqual(sender.resume(2), { ok: false, code: 'ack_out_of_range' });
    assert.equal(sender.acked, 0);
    assert.deepEqual(seqs(sender.unacked()), [1, 2]);
  });

  test('detaching keeps every message for the next transport', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    sender.takeWritable();
    sender.onAck(1);

    sender.detach();
    assert.equal(sender.written, 1);
    assert.deepEqual(sender.takeWritable(), entries(2, 'b', 'c'));
  });

  test('an ack that overtakes the replay skips what it covers', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    sender.takeWritable();
    sender.resume(0);

    assert.deepEqual(sender.onAck(2), { ok: true, released: 2 });
    assert.deepEqual(seqs(sender.takeWritable()), [3]);
  });

  test('the snapshot from unacked() does not change when later messages are acked or accepted', () => {
    const sender = new ReliableSender<string>();
    acceptAll(sender, 'a', 'b');
    sender.confirm(2);
    sender.takeWritable();

    const snapshot = sender.unacked();
    sender.onAck(1);
    acceptAll(sender, 'c');
    assert.deepEqual(snapshot, entries(1, 'a', 'b'));
  });

  test('a sender restored from a store snapshot holds its messages as durable and replays them', () => {
    const sender = new ReliableSender<string>({ maxUnacked: 4 }, { acked: 5, unacked: entries(6, 'f', 'g') });
    assert.equal(sender.acked, 5);
    assert.equal(sender.lastSeq, 7);
    assert.equal(sender.durable, 7);
    assert.equal(sender.written, 5);
    assert.equal(sender.size, 2);

    assert.deepEqual(sender.takeWritable(), entries(6, 'f', 'g'));
    assert.deepEqual(sender.accept('h'), { ok: true, seq: 8 });
  });

  test('a restored sender takes an ack up to its last sequence before writing anything again', () => {
    // The restored messages may have reached the peer from the previous instance.
    const sender = new ReliableSender<string>({}, { acked: 5, unacked: entries(6, 'f', 'g') });
    assert.deepEqual(sender.resume(7), { ok: true, released: 2 });
    assert.deepEqual(sender.takeWritable(), []);
    assert.deepEqual(sender.onAck(8), { ok: false, code: 'ack_out_of_range' });
  });

  test('the restored snapshot is copied, so the store can reuse its array', () => {
    const stored = entries(1, 'a', 'b');
    const sender = new ReliableSender<string>({}, { acked: 0, unacked: stored });
    stored.length = 0;
    assert.deepEqual(seqs(sender.unacked()), [1, 2]);
  });

  test('a snapshot whose messages are not contiguous above its ack is refused', () => {
    const gap = [
      { seq: 1, payload: 'a' },
      { seq: 3, payload: 'c' },
    ];
    assert.throws(() => new ReliableSender({}, { acked: 0, unacked: gap }), RangeError);
    assert.throws(() => new ReliableSender({}, { acked: 1, unacked: entries(1, 'a') }), RangeError);
  });

  test('a restored snapshot larger than the bound keeps every message and refuses new ones', () => {
    const sender = new ReliableSender<string>(
      { maxUnacked: 2 },
      { acked: 0, unacked: entries(1, 'a', 'b', 'c') },
    );
    assert.equal(sender.size, 3);
    assert.deepEqual(sender.accept('d'), { ok: false, code: 'buffer_full' });
    assert.deepEqual(seqs(sender.takeWritable()), [1, 2, 3]);

    sender.onAck(2);
    assert.deepEqual(sender.accept('d'), { ok: true, seq: 4 });
  });

  test('sequence numbers end at 2^32-1: the next message is refused with sequence_exhausted', () => {
    const sender = new ReliableSender<string>({}, { acked: MAX_SEQ - 1, unacked: [] });
    assert.deepEqual(sender.accept('last'), { ok: true, seq: MAX_SEQ });
    assert.deepEqual(sender.accept('one too many'), { ok: false, code: 'sequence_exhausted' });
    assert.equal(sender.size, 1);
  });
});

describe('ReliableReceiver', () => {
  test('a receiver hands on each sequence once, in order', () => {
    const receiver = new ReliableReceiver();
    assert.equal(receiver.onData(1), 'accept');
    assert.equal(receiver.onData(2), 'accept');
    assert.equal(receiver.received, 2);
  });

  test('a receiver drops duplicates and refuses gaps', () => {
    const receiver = new ReliableReceiver();
    receiver.onData(1);
    receiver.onData(2);

    assert.equal(receiver.onData(1), 'duplicate');
    assert.equal(receiver.onData(2), 'duplicate');
    assert.equal(receiver.onData(4), 'gap');
    assert.equal(receiver.received, 2, 'a refused frame does not move the receiver');
    assert.equal(receiver.onData(3), 'accept');
  });

  test('the ack covers only processed messages', () => {
    const receiver = new ReliableReceiver();
    receiver.onData(1);
    receiver.onData(2);
    receiver.onData(3);
    assert.equal(receiver.ack, 0, 'received is not processed');
    assert.equal(receiver.ackDue, false);

    receiver.complete(1);
    receiver.complete(2);
    assert.equal(receiver.ack, 2);
    assert.equal(receiver.processed, 2);
    assert.equal(receiver.received, 3);
  });

  test('an ack is due only while processed messages have not been announced', () => {
    const receiver = new ReliableReceiver();
    receiver.onData(1);
    receiver.complete(1);
    assert.equal(receiver.ackDue, true);

    assert.equal(receiver.takeAck(), 1);
    assert.equal(receiver.ackDue, false);
    assert.equal(receiver.takeAck(), 1, 'an ack may be sent again, it is cumulative');
  });

  test('completions out of order, twice, or before the message arrived are caller bugs', () => {
    const receiver = new ReliableReceiver();
    receiver.onData(1);
    receiver.onData(2);
    assert.throws(() => receiver.complete(2), RangeError, 'out of order');
    receiver.complete(1);
    assert.throws(() => receiver.complete(1), RangeError, 'twice');
    receiver.complete(2);
    assert.throws(() => receiver.complete(3), RangeError, 'not received');
    assert.equal(receiver.processed, 2);
  });

  test('on resume, messages received but not processed stay queued and their replays are duplicates', () => {
    const receiver = new ReliableReceiver();
    receiver.onData(1);
    receiver.onData(2);
    receiver.onData(3);
    receiver.complete(1);

    assert.equal(receiver.resume(), 1, 'the peer is told to replay above the processed mark');
    assert.equal(receiver.ackDue, false);
    assert.equal(receiver.onData(2), 'duplicate');
    assert.equal(receiver.onData(3), 'duplicate');
    assert.equal(receiver.onData(4), 'accept');
    receiver.complete(2);
    receiver.complete(3);
    receiver.complete(4);
    assert.equal(receiver.ack, 4);
  });

  test('a receiver restored from a store snapshot announces its processed mark and takes what follows', () => {
    const receiver = new ReliableReceiver({ processed: 5 });
    assert.equal(receiver.received, 5);
    assert.equal(receiver.ack, 5);
    assert.equal(receiver.ackDue, false);
    assert.equal(receiver.resume(), 5);

    assert.equal(receiver.onData(5), 'duplicate');
    assert.equal(receiver.onData(7), 'gap');
    assert.equal(receiver.onData(6), 'accept');
    receiver.complete(6);
    assert.equal(receiver.ack, 6);
  });
});

describe('a sender and a receiver together', () => {
  test('a message lost with its connection is replayed and handed on once', () => {
    const sender = new ReliableSender<string>();
    const receiver = new ReliableReceiver();
    const handled: string[] = [];
    const deliver = (e: Entry<string>): void => {
      if (receiver.onData(e.seq) !== 'accept') return;
      receiver.complete(e.seq);
      handled.push(e.payload);
    };

    acceptAll(sender, 'a', 'b', 'c');
    sender.confirm(3);
    const [first, second] = sender.takeWritable();
    deliver(first!);
    deliver(second!);
    // The connection drops: 'c' and the ack for 'a', 'b' are lost.
    sender.detach();

    assert.deepEqual(sender.resume(receiver.resume()), { ok: true, released: 2 });
    for (const e of sender.takeWritable()) deliver(e);
    assert.deepEqual(sender.onAck(receiver.takeAck()), { ok: true, released: 1 });

    assert.deepEqual(handled, ['a', 'b', 'c']);
    assert.equal(sender.size, 0);
  });
});
