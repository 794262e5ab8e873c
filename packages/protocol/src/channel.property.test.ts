/**
 * Property-based tests of the reliable-channel core: two endpoints, a "server" and a "device", each
 * with a sender and a receiver, joined by an in-memory ordered transport (one queue of frames per
 * direction). fast-check drives them through random interleavings of application sends, store
 * writes completing, flushes, deliveries, handler completions, standalone acks, duplicated frames,
 * disconnects with a resume handshake and, in some runs, the server session being taken over by
 * another instance from the store. After every step and after a final drain the delivery contract
 * of `channel.ts` must hold. Nothing here touches a socket or a clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReliableReceiver, ReliableSender } from './channel.js';

type Side = 'server' | 'device';

interface DataFrame {
  readonly kind: 'data';
  readonly seq: number;
  readonly ack: number;
  readonly payload: string;
}
interface AckOnlyFrame {
  readonly kind: 'ack';
  readonly ack: number;
}
type WireFrame = DataFrame | AckOnlyFrame;

type Command =
  | { readonly t: 'send'; readonly side: Side; readonly retry: boolean }
  | { readonly t: 'confirm'; readonly side: Side; readonly count: number }
  | { readonly t: 'flush'; readonly side: Side }
  | { readonly t: 'deliver'; readonly from: Side }
  | { readonly t: 'process'; readonly side: Side }
  | { readonly t: 'ack'; readonly side: Side }
  | { readonly t: 'duplicate'; readonly to: Side; readonly pick: number }
  | { readonly t: 'disconnect'; readonly detach: boolean }
  | { readonly t: 'reconnect' }
  | { readonly t: 'reload' };

/** One end of the session: the core under test plus what its application and its store have seen. */
interface Endpoint {
  readonly side: Side;
  sender: ReliableSender<string>;
  receiver: ReliableReceiver;
  /** Messages received and waiting for the asynchronous handler, oldest first. */
  inbox: DataFrame[];
  /** Frames written by this endpoint and still in flight toward the peer. */
  outbound: WireFrame[];
  /** What the application's accepted sends were numbered: seq → payload. */
  readonly acceptedBySeq: Map<number, string>;
  /** Sends that were refused (or failed before becoming durable); the application may retry them. */
  readonly refused: string[];
  /** Peer messages whose handler completed, in completion order. */
  readonly handled: string[];
  /** Data frames this endpoint has received, to deliver again as duplicates. */
  readonly seen: DataFrame[];
  nextId: number;
  /** Highest ack this endpoint has put on the wire, and the highest its sender has taken. */
  lastAckWritten: number;
  lastAckTaken: number;
}

interface Counters {
  refusals: number;
  retriesAccepted: number;
  replayDuplicates: number;
  injectedDuplicates: number;
  resumes: number;
  reloads: number;
  lostInbound: number;
}

function endpoint(side: Side, maxUnacked: number): Endpoint {
  return {
    side,
    sender: new ReliableSender<string>({ maxUnacked }),
    receiver: new ReliableReceiver(),
    inbox: [],
    outbound: [],
    acceptedBySeq: new Map(),
    refused: [],
    handled: [],
    seen: [],
    nextId: 1,
    lastAckWritten: 0,
    lastAckTaken: 0,
  };
}

/** The two endpoints and the link between them; every method is one event of the simulation. */
class Session {
  readonly server: Endpoint;
  readonly device: Endpoint;
  connected = true;

  constructor(
    readonly maxUnacked: number,
    readonly counters: Counters,
  ) {
    this.server = endpoint('server', maxUnacked);
    this.device = endpoint('device', maxUnacked);
  }

  peer(e: Endpoint): Endpoint {
    return e === this.server ? this.device : this.server;
  }

  at(side: Side): Endpoint {
    return side === 'server' ? this.server : this.device;
  }

  run(cmd: Command): void {
    switch (cmd.t) {
      case 'send':
        this.send(this.at(cmd.side), cmd.retry);
        break;
      case 'confirm':
        this.confirm(this.at(cmd.side), cmd.count);
        break;
      case 'flush':
        this.flush(this.at(cmd.side));
        break;
      case 'deliver':
        this.deliver(this.at(cmd.from));
        break;
      case 'process':
        this.process(this.at(cmd.side));
        break;
      case 'ack':
        this.sendAck(this.at(cmd.side));
        break;
      case 'duplicate':
        this.duplicate(this.at(cmd.to), cmd.pick);
        break;
      case 'disconnect':
        this.disconnect(cmd.detach);
        break;
      case 'reconnect':
        this.reconnect();
        break;
      case 'reload':
        this.reload();
        break;
    }
  }

  send(e: Endpoint, retry: boolean): void {
    const payload = retry && e.refused.length > 0 ? e.refused.shift()! : `${e.side}-${e.nextId++}`;
    const wasFull = e.sender.isFull;
    const lastSeq = e.sender.lastSeq;
    const r = e.sender.accept(payload);
    if (r.ok) {
      assert.equal(wasFull, false, 'a full buffer accepted a message');
      assert.equal(r.seq, lastSeq + 1, 'sequence numbers are consecutive');
      e.acceptedBySeq.set(r.seq, payload);
      if (retry) this.counters.retriesAccepted++;
      return;
    }
    assert.equal(r.code, 'buffer_full');
    assert.equal(wasFull, true, 'a message was refused although there was room');
    assert.equal(e.sender.lastSeq, lastSeq, 'a refused message took a sequence number');
    e.refused.push(payload);
    this.counters.refusals++;
  }

  /** The store finishes the next `count` writes, in order. */
  confirm(e: Endpoint, count: number): void {
    const target = Math.min(e.sender.durable + count, e.sender.lastSeq);
    e.sender.confirm(target);
  }

  flush(e: Endpoint): void {
    if (!this.connected) return;
    let expected = e.sender.written + 1;
    for (const entry of e.sender.takeWritable()) {
      assert.equal(entry.seq, expected++, 'writes are contiguous and in order');
      assert.ok(entry.seq <= e.sender.durable, 'a message was written before it was durable');
      assert.equal(entry.payload, e.acceptedBySeq.get(entry.seq));
      e.outbound.push({ kind: 'data', seq: entry.seq, ack: this.takeAck(e), payload: entry.payload });
    }
  }

  sendAck(e: Endpoint): void {
    if (!this.connected) return;
    e.outbound.push({ kind: 'ack', ack: this.takeAck(e) });
  }

  takeAck(e: Endpoint): number {
    const ack = e.receiver.takeAck();
    assert.ok(ack >= e.lastAckWritten, `${e.side} put ack ${ack} on the wire after ${e.lastAckWritten}`);
    e.lastAckWritten = ack;
    return ack;
  }

  deliver(from: Endpoint): void {
    const frame = from.outbound.shift();
    if (frame === undefined) return;
    this.receive(this.peer(from), frame, false);
  }

  receive(to: Endpoint, frame: WireFrame, isInjectedDuplicate: boolean): void {
    const ackResult = to.sender.onAck(frame.ack);
    assert.ok(ackResult.ok, `${to.side} refused ack ${frame.ack} (written up to ${to.sender.lastSeq})`);
    if (frame.kind === 'ack') return;
    const verdict = to.receiver.onData(frame.seq);
    assert.notEqual(verdict, 'gap', `${to.side} saw a gap at ${frame.seq} after ${to.receiver.received}`);
    if (isInjectedDuplicate) assert.equal(verdict, 'duplicate', 'a frame delivered twice was accepted twice');
    if (verdict === 'duplicate') {
      if (!isInjectedDuplicate) this.counters.replayDuplicates++;
      return;
    }
    to.inbox.push(frame);
    to.seen.push(frame);
  }

  /** The handler of the oldest waiting message resolves. */
  process(e: Endpoint): void {
    const frame = e.inbox.shift();
    if (frame === undefined) return;
    e.receiver.complete(frame.seq);
    e.handled.push(frame.payload);
  }

  /** The transport hands `to` a data frame it has already received (on this or an earlier connection). */
  duplicate(to: Endpoint, pick: number): void {
    if (!this.connected) return;
    const candidates = to.seen.filter((f) => f.seq <= to.receiver.received);
    if (candidates.length === 0) return;
    this.counters.injectedDuplicates++;
    this.receive(to, candidates[pick % candidates.length]!, true);
  }

  /**
   * The connection drops: every frame in flight, in both directions, is lost. A caller may tell its
   * sender at once (`detach`) or only on the next connection (`resume`); either must replay.
   */
  disconnect(detach: boolean): void {
    if (!this.connected) return;
    this.connected = false;
    for (const e of [this.server, this.device]) {
      e.outbound = [];
      if (detach) e.sender.detach();
    }
  }

  /**
   * The device reconnects and resumes: its hello carries its processed mark, the welcome the server's;
   * each sender rewinds to the other side's mark. Receivers keep their state (queued messages included).
   */
  reconnect(): void {
    if (this.connected) return;
    const deviceAck = this.device.receiver.resume();
    const serverAck = this.server.receiver.resume();
    for (const [e, ack] of [
      [this.device, deviceAck],
      [this.server, serverAck],
    ] as const) {
      assert.ok(ack >= e.lastAckWritten, `${e.side} announced ${ack} on resume after ${e.lastAckWritten}`);
      e.lastAckWritten = ack;
    }
    assert.ok(this.server.sender.resume(deviceAck).ok, 'server refused the device ack on resume');
    assert.ok(this.device.sender.resume(serverAck).ok, 'device refused the server ack on resume');
    this.connected = true;
    this.counters.resumes++;
  }

  /**
   * Another instance takes the server session over from the store. The store holds the durable
   * messages and the acked / processed marks (written through); a send whose store write had not
   * completed never became durable, so its caller got a failure and may retry it. Messages the old
   * instance had received but not processed are gone and must come again by replay.
   */
  reload(): void {
    this.disconnect(false);
    const s = this.server;
    const durable = s.sender.durable;
    const held = s.sender.unacked();
    for (const e of held) {
      if (e.seq <= durable) continue;
      s.acceptedBySeq.delete(e.seq);
      s.refused.push(e.payload);
    }
    s.sender = new ReliableSender<string>(
      { maxUnacked: this.maxUnacked },
      { acked: s.sender.acked, unacked: held.filter((e) => e.seq <= durable) },
    );
    s.receiver = new ReliableReceiver({ processed: s.receiver.processed });
    this.counters.lostInbound += s.inbox.length;
    s.inbox = [];
    this.counters.reloads++;
  }

  /** What must hold between any two events. */
  checkInvariants(): void {
    for (const e of [this.server, this.device]) {
      const { sender, receiver } = e;
      const peer = this.peer(e);
      assert.ok(sender.size <= this.maxUnacked, `${e.side} holds ${sender.size} > ${this.maxUnacked}`);
      assert.ok(sender.acked >= e.lastAckTaken, `${e.side} sender ack went back`);
      e.lastAckTaken = sender.acked;

      // Nothing accepted is evicted: the held messages are exactly the accepted ones above the ack.
      assert.equal(e.acceptedBySeq.size, sender.lastSeq);
      const held = sender.unacked();
      assert.equal(held.length, sender.lastSeq - sender.acked);
      held.forEach((entry, i) => {
        assert.equal(entry.seq, sender.acked + 1 + i);
        assert.equal(entry.payload, e.acceptedBySeq.get(entry.seq));
      });
      assert.ok(sender.acked <= sender.written && sender.written <= sender.durable);
      assert.ok(sender.durable <= sender.lastSeq);

      // An ack covers only messages the peer's handler completed.
      assert.ok(
        sender.acked <= peer.receiver.processed,
        `${e.side} acked beyond what ${peer.side} processed`,
      );
      assert.equal(receiver.processed, e.handled.length);
      assert.equal(receiver.received, receiver.processed + e.inbox.length);
      // Handled so far: exactly the peer's accepted messages 1…processed, once each and in order.
      e.handled.forEach((payload, i) => {
        assert.equal(payload, peer.acceptedBySeq.get(i + 1), `${e.side} handled ${payload} as #${i + 1}`);
      });
    }
  }

  /**
   * No more loss: reconnect if needed, let each application retry what was refused, complete every
   * store write, and exchange frames until quiet.
   */
  drain(): void {
    this.reconnect();
    for (let round = 0; round < 1000; round++) {
      for (const e of [this.server, this.device]) {
        while (e.refused.length > 0 && !e.sender.isFull) this.send(e, true);
        this.confirm(e, e.sender.lastSeq);
        this.flush(e);
      }
      while (this.server.outbound.length > 0 || this.device.outbound.length > 0) {
        this.deliver(this.server);
        this.deliver(this.device);
      }
      for (const e of [this.server, this.device]) {
        while (e.inbox.length > 0) this.process(e);
        if (e.receiver.ackDue) this.sendAck(e);
      }
      while (this.server.outbound.length > 0 || this.device.outbound.length > 0) {
        this.deliver(this.server);
        this.deliver(this.device);
      }
      this.checkInvariants();
      const quiet = [this.server, this.device].every((e) => e.sender.size === 0 && e.refused.length === 0);
      if (quiet) return;
    }
    assert.fail('the session did not quiesce');
  }
}

const sideArb = fc.constantFrom<Side>('server', 'device');

function commandArb(withReload: boolean): fc.Arbitrary<Command> {
  const weighted: fc.WeightedArbitrary<Command>[] = [
    { weight: 6, arbitrary: fc.record({ t: fc.constant('send'), side: sideArb, retry: fc.boolean() }) },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('confirm'),
        side: sideArb,
        count: fc.integer({ min: 1, max: 3 }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('flush'), side: sideArb }) },
    { weight: 7, arbitrary: fc.record({ t: fc.constant('deliver'), from: sideArb }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('process'), side: sideArb }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('ack'), side: sideArb }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('duplicate'), to: sideArb, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('disconnect'), detach: fc.boolean() }) },
    { weight: 2, arbitrary: fc.constant({ t: 'reconnect' }) },
  ];
  if (withReload) weighted.push({ weight: 1, arbitrary: fc.constant({ t: 'reload' }) });
  return fc.oneof(...weighted);
}

/** Small bounds make `buffer_full` common; the runbook default checks the ordinary case. */
const maxUnackedArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.constant(200) },
);

function newCounters(): Counters {
  return {
    refusals: 0,
    retriesAccepted: 0,
    replayDuplicates: 0,
    injectedDuplicates: 0,
    resumes: 0,
    reloads: 0,
    lostInbound: 0,
  };
}

function simulate(maxUnacked: number, commands: readonly Command[], counters: Counters): void {
  const session = new Session(maxUnacked, counters);
  for (const cmd of commands) {
    session.run(cmd);
    session.checkInvariants();
  }
  session.drain();
  for (const e of [session.server, session.device]) {
    const peer = session.peer(e);
    const accepted = [...peer.acceptedBySeq.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, payload]) => payload);
    assert.deepEqual(
      e.handled,
      accepted,
      `${e.side} did not handle every accepted ${peer.side} message once`,
    );
    assert.equal(accepted.length, peer.nextId - 1, `a message ${peer.side} sent never got through`);
  }
}

function checkDelivery(withReload: boolean, numRuns: number): Counters {
  const counters = newCounters();
  fc.assert(
    fc.property(
      maxUnackedArb,
      fc.array(commandArb(withReload), { maxLength: 250, size: 'max' }),
      (maxUnacked, commands) => {
        simulate(maxUnacked, commands, counters);
      },
    ),
    { numRuns },
  );
  return counters;
}

test('two endpoints over a link that drops and resumes hand every accepted message on exactly once, in order', () => {
  const counters = checkDelivery(false, 1000);
  // Guard against a vacuous property: the interesting paths must actually have been taken.
  assert.ok(counters.refusals > 0, 'no send was ever refused');
  assert.ok(counters.retriesAccepted > 0, 'no refused send was ever retried successfully');
  assert.ok(counters.resumes > 0, 'no run ever resumed');
  assert.ok(counters.replayDuplicates > 0, 'no replay ever overlapped what the receiver held');
  assert.ok(counters.injectedDuplicates > 0, 'no duplicate frame was ever injected');
});

test('exactly-once, in-order delivery survives another instance taking the server session over from the store', () => {
  const counters = checkDelivery(true, 1000);
  assert.ok(counters.reloads > 0, 'no run ever reloaded the server');
  assert.ok(counters.lostInbound > 0, 'no reload ever lost a queued inbound message');
});

test('a bound of one message still delivers everything once the application retries its refusals', () => {
  fc.assert(
    fc.property(fc.array(commandArb(true), { maxLength: 250, size: 'max' }), (commands) => {
      simulate(1, commands, newCounters());
    }),
    { numRuns: 300 },
  );
});
