/**
 * Fuzz tests of what a peer controls: every WebSocket message goes through `decodeFrame`, and the
 * numbers it yields go into the channel core. Random strings, random bytes, random objects and
 * mutations of valid frames (bit flips, truncation, field-type swaps, huge numbers, deep nesting,
 * extra and duplicate keys) must never make the decoder throw: the answer is a frame that keeps its
 * own invariants or an error from the `Errors` registry. Random command sequences must never make the
 * channel core throw, except the RangeError it documents for caller bugs.
 *
 * The input count defaults to 100,000; a longer local run is one command:
 *   ZERODROP_FUZZ_RUNS=2000000 npm test -- codec.fuzz
 * A failure prints the fast-check seed; ZERODROP_FUZZ_SEED=<seed> replays that run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReliableReceiver, ReliableSender } from './channel.js';
import {
  type DecodeResult,
  decodeFrame,
  encodeControl,
  encodeData,
  isSeq,
  isValidDeviceId,
  MAX_ID_LENGTH,
  toPayload,
} from './codec.js';
import { BINARY_DATA_TAG, BINARY_HEADER_BYTES, MAX_SEQ } from './constants.js';
import { Errors } from './errors.js';
import { type Frame, RESUME_FAILURE_REASONS } from './frames.js';

const FUZZ_RUNS = positiveIntegerFromEnv('ZERODROP_FUZZ_RUNS', 100_000);
const FUZZ_SEED =
  process.env.ZERODROP_FUZZ_SEED === undefined ? {} : { seed: Number(process.env.ZERODROP_FUZZ_SEED) };

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

const REGISTRY = new Set<unknown>(Object.values(Errors));

/** One input as a WebSocket would hand it over; `object` is the frame before encoding, if any. */
interface WireInput {
  readonly wire: string | Uint8Array;
  readonly object?: Record<string, unknown>;
}

const utf8 = new TextEncoder();
const MARK = 'ZDMARK7f3a';

function isId(s: unknown): boolean {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_ID_LENGTH;
}

/** The invariants each decoded frame promises its consumer, whatever the input was. */
function assertFrameInvariants(frame: Frame, input: string | Uint8Array, isBinary: boolean): void {
  const f = frame as unknown as Record<string, unknown>;
  if (isBinary) {
    assert.equal(frame.t, 'bin', 'a binary message decoded to a text frame');
    assert.ok(input instanceof Uint8Array);
    if (frame.t !== 'bin') return;
    assert.equal(input[0], BINARY_DATA_TAG);
    const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    assert.equal(frame.seq, view.getUint32(1));
    assert.equal(frame.ack, view.getUint32(5));
    assert.ok(frame.seq >= 1);
    assert.ok(frame.data instanceof Uint8Array);
    assert.equal(frame.data.length, input.length - BINARY_HEADER_BYTES);
    return;
  }
  switch (frame.t) {
    case 'hello':
      assert.ok(Number.isInteger(frame.v));
      assert.ok(isValidDeviceId(frame.device));
      assert.deepEqual(
        Object.keys(f).sort(),
        frame.resume ? ['device', 'resume', 't', 'v'] : ['device', 't', 'v'],
      );
      if (frame.resume) {
        const r = frame.resume;
        assert.ok(isId(r.session) && isId(r.epoch) && isId(r.token) && isSeq(r.ack));
        assert.deepEqual(Object.keys(r).sort(), ['ack', 'epoch', 'session', 'token']);
      }
      return;
    case 'welcome':
      assert.equal(typeof frame.v, 'number');
      assert.ok(isId(frame.session) && isId(frame.epoch) && isId(frame.token));
      assert.ok(frame.outcome === 'resumed' || frame.outcome === 'fresh');
      assert.ok(frame.reason === undefined || RESUME_FAILURE_REASONS.includes(frame.reason));
      assert.ok(
        isSeq(frame.ack) && isSeq(frame.replay) && isSeq(frame.replay_from) && isSeq(frame.heartbeat_ms),
      );
      assert.ok(typeof frame.limits === 'object' && frame.limits !== null);
      assert.ok(isSeq(frame.limits.max_unacked) && isSeq(frame.limits.max_frame_bytes));
      assert.equal(typeof frame.instance, 'string');
      return;
    case 'msg':
      assert.ok(isSeq(frame.seq) && frame.seq >= 1, `msg.seq ${frame.seq}`);
      assert.ok(isSeq(frame.ack), `msg.ack ${frame.ack}`);
      assert.ok('data' in frame);
      return;
    case 'ack':
      assert.ok(isSeq(frame.ack));
      assert.deepEqual(Object.keys(f), ['t', 'ack']);
      return;
    case 'ping':
      assert.ok(isSeq(frame.id) && (frame.ack === undefined || isSeq(frame.ack)));
      return;
    case 'pong':
      assert.ok(isSeq(frame.id));
      return;
    case 'reconnect':
      assert.ok(typeof frame.reason === 'string' && isSeq(frame.delay_ms));
      return;
    case 'error':
      assert.ok(typeof frame.code === 'string' && typeof frame.message === 'string');
      return;
    default:
      assert.fail(`text message decoded to frame type ${JSON.stringify(f.t)}`);
  }
}

function assertDecodeResult(r: DecodeResult, input: string | Uint8Array, isBinary: boolean): void {
  if (r.ok) {
    assertFrameInvariants(r.frame, input, isBinary);
    return;
  }
  assert.ok(REGISTRY.has(r.error), `error ${JSON.stringify(r.error)} is not a registry entry`);
  assert.equal(typeof r.detail, 'string');
}

/** Feed one input through every path a gateway could take with it: text and binary opcodes. */
function decodeEveryWay(wire: string | Uint8Array): void {
  const bytes = typeof wire === 'string' ? utf8.encode(wire) : wire;
  for (const [data, isBinary] of [
    [wire, false],
    [wire, true],
    [bytes, true],
  ] as const) {
    assertDecodeResult(decodeFrame(data, isBinary), data, isBinary);
  }
}

const idArb = fc.string({
  unit: fc.constantFrom(...'abcXYZ019._:@-'),
  minLength: 1,
  maxLength: 12,
});
const seqArb = fc.oneof(
  fc.integer({ min: 0, max: 20 }),
  fc.constantFrom(MAX_SEQ - 1, MAX_SEQ),
  fc.integer({ min: 0, max: MAX_SEQ }),
);
const positiveSeqArb = seqArb.map((n) => Math.max(1, n));

/** Values that are wrong for almost any field, to swap in. */
const weirdValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1,
    1.5,
    MAX_SEQ,
    MAX_SEQ + 1,
    2 ** 53,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
  ),
  fc.constantFrom('', '1', 'msg', 'x'.repeat(MAX_ID_LENGTH + 1), [], {}, [1], { ack: 1 }),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Number-like literals JSON.parse turns into huge, tiny, negative or fractional numbers (or refuses). */
const numberLiteralArb = fc.constantFrom(
  '1e400',
  '-1e400',
  '1e-400',
  '99999999999999999999999',
  '4294967296',
  '4294967295',
  '9007199254740993',
  '-1',
  '-0',
  '0.5',
  '1.0',
  '1E2',
  '0x10',
  '01',
  'NaN',
  'Infinity',
  '-',
  '1e',
  '""',
);

const frameTypes = ['hello', 'welcome', 'msg', 'ack', 'ping', 'pong', 'reconnect', 'error', 'bin'] as const;

const resumeArb = fc.record({ session: idArb, epoch: idArb, token: idArb, ack: seqArb });

const validControlArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record(
    { t: fc.constant('hello'), v: fc.integer({ min: 0, max: 3 }), device: idArb, resume: resumeArb },
    { requiredKeys: ['t', 'v', 'device'] },
  ),
  fc.record(
    {
      t: fc.constant('welcome'),
      v: fc.integer({ min: 0, max: 3 }),
      session: idArb,
      epoch: idArb,
      token: idArb,
      outcome: fc.constantFrom('resumed', 'fresh'),
      reason: fc.constantFrom(...RESUME_FAILURE_REASONS),
      ack: seqArb,
      replay: seqArb,
      replay_from: seqArb,
      heartbeat_ms: seqArb,
      limits: fc.record({ max_unacked: seqArb, max_frame_bytes: seqArb }),
      instance: fc.string({ maxLength: 8 }),
    },
    {
      requiredKeys: [
        't',
        'v',
        'session',
        'epoch',
        'token',
        'outcome',
        'ack',
        'replay',
        'replay_from',
        'heartbeat_ms',
        'limits',
        'instance',
      ],
    },
  ),
  fc.record({ t: fc.constant('ack'), ack: seqArb }),
  fc.record({ t: fc.constant('ping'), id: seqArb, ack: seqArb }, { requiredKeys: ['t', 'id'] }),
  fc.record({ t: fc.constant('pong'), id: seqArb }),
  fc.record({ t: fc.constant('reconnect'), reason: fc.string({ maxLength: 8 }), delay_ms: seqArb }),
  fc.record({
    t: fc.constant('error'),
    code: fc.string({ maxLength: 8 }),
    message: fc.string({ maxLength: 16 }),
  }),
);

const validFrameArb: fc.Arbitrary<WireInput> = fc.oneof(
  { weight: 4, arbitrary: validControlArb.map((object) => ({ wire: JSON.stringify(object), object })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ seq: positiveSeqArb, ack: seqArb, data: fc.jsonValue({ maxDepth: 3 }) })
      .map((m) => {
        const wire = encodeData(toPayload(m.data), m.seq, m.ack) as string;
        return { wire, object: JSON.parse(wire) as Record<string, unknown> };
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ seq: positiveSeqArb, ack: seqArb, data: fc.uint8Array({ maxLength: 24 }) })
      .map((m) => ({ wire: encodeData(toPayload(m.data), m.seq, m.ack) })),
  },
);

/** Paths to the fields of an object, one level into nested objects (`resume.ack`, `limits.max_unacked`). */
function fieldPaths(o: Record<string, unknown>): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(o)) {
    out.push([k]);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const inner of Object.keys(v)) out.push([k, inner]);
    }
  }
  return out;
}

/** A deep copy of `o` with the field at `path` set (undefined deletes it when stringified). */
function withField(o: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(o);
  let target: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
  target[path[path.length - 1]!] = value;
  return copy;
}

/** JSON text of `o` with the field at `path` replaced by raw `literal` text (invalid JSON allowed). */
function withRawField(o: Record<string, unknown>, path: string[], literal: string): string {
  return JSON.stringify(withField(o, path, MARK)).replace(`"${MARK}"`, () => literal);
}

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
}

function asBytes(wire: string | Uint8Array): Uint8Array {
  return typeof wire === 'string' ? utf8.encode(wire) : wire.slice();
}

type Mutation = (input: WireInput) => string | Uint8Array;

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 4 }).map(
    (flips): Mutation =>
      (input) => {
        const b = asBytes(input.wire);
        if (b.length === 0) return b;
        for (const [at, bit] of flips) b[at % b.length]! ^= 1 << bit;
        return b;
      },
  ),
  fc.nat().map(
    (cut): Mutation =>
      (input) =>
        input.wire.slice(0, cut % (input.wire.length + 1)),
  ),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(
    ([at, inserted]): Mutation =>
      (input) => {
        const b = asBytes(input.wire);
        const i = at % (b.length + 1);
        return Uint8Array.from([...b.subarray(0, i), ...inserted, ...b.subarray(i)]);
      },
  ),
  fc.tuple(fc.nat(), weirdValueArb).map(
    ([pick, value]): Mutation =>
      (input) => {
        if (!input.object) return input.wire;
        const paths = fieldPaths(input.object);
        return JSON.stringify(withField(input.object, paths[pick % paths.length]!, value));
      },
  ),
  fc.nat().map(
    (pick): Mutation =>
      (input) => {
        if (!input.object) return input.wire;
        const paths = fieldPaths(input.object);
        return JSON.stringify(withField(input.object, paths[pick % paths.length]!, undefined));
      },
  ),
  fc.tuple(fc.nat(), numberLiteralArb).map(
    ([pick, literal]): Mutation =>
      (input) => {
        if (!input.object) return input.wire;
        const paths = fieldPaths(input.object);
        return withRawField(input.object, paths[pick % paths.length]!, literal);
      },
  ),
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(8, 64, 1_000, 10_000),
      fc.constantFrom<'array' | 'object'>('array', 'object'),
    )
    .map(
      ([pick, depth, kind]): Mutation =>
        (input) => {
          if (!input.object) return input.wire;
          const paths = fieldPaths(input.object);
          return withRawField(input.object, paths[pick % paths.length]!, nested(depth, kind));
        },
    ),
  fc
    .tuple(
      fc.constantFrom('t', 'seq', 'ack', 'data', '__proto__', 'constructor', 'resume'),
      weirdValueArb,
      fc.boolean(),
    )
    .map(
      ([key, value, first]): Mutation =>
        (input) => {
          // Raw text, so duplicate keys and `__proto__` reach JSON.parse as a peer would send them.
          if (!input.object) return input.wire;
          const text = JSON.stringify(input.object);
          const field = `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`;
          return first ? `{${field},${text.slice(1)}` : `${text.slice(0, -1)},${field}}`;
        },
    ),
  fc.tuple(fc.constantFrom(0x00, 0x01, 0x02, 0x7b, 0xff), fc.boolean(), fc.boolean()).map(
    ([tag, zeroSeq, maxAck]): Mutation =>
      (input) => {
        const b = asBytes(input.wire);
        if (b.length === 0) return b;
        b[0] = tag;
        if (zeroSeq && b.length >= 5) b.fill(0, 1, 5);
        if (maxAck && b.length >= 9) b.fill(0xff, 5, 9);
        return b;
      },
  ),
);

const randomObjectArb = fc
  .record({
    t: fc.oneof(fc.constantFrom(...frameTypes), weirdValueArb),
    fields: fc.dictionary(
      fc.constantFrom(
        'v',
        'device',
        'resume',
        'seq',
        'ack',
        'data',
        'id',
        'reason',
        'delay_ms',
        'code',
        'message',
        'limits',
        'session',
      ),
      weirdValueArb,
      { maxKeys: 5 },
    ),
  })
  .map(({ t, fields }) => JSON.stringify({ ...fields, t }));

const jsonTokenStringArb = fc.string({
  unit: fc.constantFrom(...'{}[]":,tmsgack0123456789-.eE '),
  maxLength: 48,
});

const inputArb: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 48 }) },
  { weight: 2, arbitrary: jsonTokenStringArb },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(0, BINARY_DATA_TAG, 2, 0xff), fc.uint8Array({ maxLength: 24 }))
      .map(([tag, rest]) => Uint8Array.from([tag, ...rest])),
  },
  { weight: 2, arbitrary: randomObjectArb },
  { weight: 1, arbitrary: validFrameArb.map((f) => f.wire) },
  { weight: 8, arbitrary: fc.tuple(validFrameArb, mutationArb).map(([f, mutate]) => mutate(f)) },
);

test(`decodeFrame answers ${FUZZ_RUNS} random and mutated inputs with a valid frame or a registry error`, () => {
  fc.assert(
    fc.property(inputArb, (wire) => decodeEveryWay(wire)),
    { numRuns: FUZZ_RUNS, ...FUZZ_SEED },
  );
});

test('every valid frame the fuzzer starts from decodes, so mutations start from real frames', () => {
  fc.assert(
    fc.property(validFrameArb, ({ wire, object }) => {
      const r = decodeFrame(wire, typeof wire !== 'string');
      assert.ok(r.ok, r.ok ? '' : r.detail);
      if (object === undefined || r.frame.t === 'msg' || r.frame.t === 'bin') return;
      assert.deepEqual(
        decodeFrame(encodeControl(r.frame), false),
        r,
        'a decoded control frame re-encodes to itself',
      );
    }),
    { numRuns: 2_000, ...FUZZ_SEED },
  );
});

// ---------------------------------------------------------------------------------------------------
// The channel core under random commands

/** A number relative to the current state, so commands hit the boundaries that matter. */
interface Arg {
  readonly base: 'zero' | 'acked' | 'written' | 'durable' | 'lastSeq' | 'received' | 'processed' | 'max';
  readonly delta: number;
}

type CoreCommand =
  | { readonly op: 'accept' | 'takeWritable' | 'detach' | 'takeAck' | 'receiverResume' }
  | { readonly op: 'confirm' | 'onAck' | 'resume' | 'onData' | 'complete'; readonly arg: Arg };

const argArb: fc.Arbitrary<Arg> = fc.record({
  base: fc.constantFrom('zero', 'acked', 'written', 'durable', 'lastSeq', 'received', 'processed', 'max'),
  delta: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom(-(2 ** 40), 2 ** 40)),
});

const coreCommandArb: fc.Arbitrary<CoreCommand> = fc.oneof(
  fc.record({ op: fc.constantFrom('accept', 'takeWritable', 'detach', 'takeAck', 'receiverResume') }),
  fc.record({ op: fc.constantFrom('confirm', 'onAck', 'resume', 'onData', 'complete'), arg: argArb }),
  fc.record({ op: fc.constant('accept') }),
);

const coreSetupArb = fc.record({
  maxUnacked: fc.oneof(fc.integer({ min: -1, max: 8 }), fc.constant(200), fc.constant(1.5)),
  acked: fc.oneof(fc.nat(10), fc.integer({ min: MAX_SEQ - 6, max: MAX_SEQ })),
  restored: fc.nat(6),
  breakContiguity: fc.boolean(),
  processed: fc.oneof(fc.nat(10), fc.integer({ min: MAX_SEQ - 3, max: MAX_SEQ })),
  restore: fc.boolean(),
  commands: fc.array(coreCommandArb, { maxLength: 80, size: 'max' }),
});

/**
 * Only integers are fed in: the codec never yields anything else (see `isSeq`), so fractional or NaN
 * acks are not part of the core's input space. Out-of-range integers are, and must not throw.
 */
test('random command sequences never make the channel core throw, except the RangeError for caller bugs', () => {
  fc.assert(
    fc.property(coreSetupArb, (setup) => {
      const count = Math.min(setup.restored, MAX_SEQ - setup.acked);
      const unacked = Array.from({ length: count }, (_, i) => ({ seq: setup.acked + 1 + i, payload: i }));
      const contiguous = !(setup.breakContiguity && count > 0);
      if (!contiguous) unacked[unacked.length - 1] = { seq: setup.acked + count + 1, payload: -1 };
      const validBound = Number.isInteger(setup.maxUnacked) && setup.maxUnacked >= 1;

      let sender: ReliableSender<number>;
      try {
        sender = new ReliableSender<number>(
          { maxUnacked: setup.maxUnacked },
          setup.restore ? { acked: setup.acked, unacked } : undefined,
        );
      } catch (err) {
        assert.ok(err instanceof RangeError, `constructor threw ${String(err)}`);
        assert.ok(!validBound || (setup.restore && !contiguous), 'a valid setup was refused');
        return;
      }
      assert.ok(validBound && (!setup.restore || contiguous), 'an invalid setup was accepted');
      const receiver = new ReliableReceiver(setup.restore ? { processed: setup.processed } : undefined);
      const capacity = Math.max(sender.maxUnacked, sender.size);
      let writtenEver = sender.lastSeq;

      const value = (a: Arg): number => {
        const bases = {
          zero: 0,
          acked: sender.acked,
          written: sender.written,
          durable: sender.durable,
          lastSeq: sender.lastSeq,
          received: receiver.received,
          processed: receiver.processed,
          max: MAX_SEQ,
        };
        return bases[a.base] + a.delta;
      };

      for (const cmd of setup.commands) {
        const before = {
          acked: sender.acked,
          written: sender.written,
          durable: sender.durable,
          lastSeq: sender.lastSeq,
          full: sender.isFull,
          received: receiver.received,
          processed: receiver.processed,
        };
        switch (cmd.op) {
          case 'accept': {
            const r = sender.accept(before.lastSeq);
            if (before.full) assert.deepEqual(r, { ok: false, code: 'buffer_full' });
            else if (before.lastSeq >= MAX_SEQ)
              assert.deepEqual(r, { ok: false, code: 'sequence_exhausted' });
            else assert.deepEqual(r, { ok: true, seq: before.lastSeq + 1 });
            break;
          }
          case 'confirm': {
            const n = value(cmd.arg);
            if (n > before.lastSeq) assert.throws(() => sender.confirm(n), RangeError);
            else sender.confirm(n);
            assert.equal(sender.durable, n > before.lastSeq ? before.durable : Math.max(before.durable, n));
            break;
          }
          case 'takeWritable': {
            const out = sender.takeWritable().map((e) => e.seq);
            const expected = [];
            for (let s = before.written + 1; s <= before.durable; s++) expected.push(s);
            assert.deepEqual(out, expected);
            writtenEver = Math.max(writtenEver, sender.written);
            break;
          }
          case 'onAck':
          case 'resume': {
            const n = value(cmd.arg);
            const r = cmd.op === 'onAck' ? sender.onAck(n) : sender.resume(n);
            if (n > writtenEver) {
              assert.deepEqual(r, { ok: false, code: 'ack_out_of_range' });
              assert.equal(sender.acked, before.acked);
            } else {
              assert.deepEqual(r, { ok: true, released: Math.max(0, n - before.acked) });
              assert.equal(sender.acked, Math.max(before.acked, n));
              if (cmd.op === 'resume') assert.equal(sender.written, sender.acked);
            }
            break;
          }
          case 'detach':
            sender.detach();
            assert.equal(sender.written, sender.acked);
            break;
          case 'onData': {
            const n = value(cmd.arg);
            const expected =
              n <= before.received ? 'duplicate' : n === before.received + 1 ? 'accept' : 'gap';
            assert.equal(receiver.onData(n), expected);
            break;
          }
          case 'complete': {
            const n = value(cmd.arg);
            if (n !== before.processed + 1 || n > before.received) {
              assert.throws(() => receiver.complete(n), RangeError);
            } else {
              receiver.complete(n);
            }
            break;
          }
          case 'takeAck':
          case 'receiverResume':
            assert.equal(cmd.op === 'takeAck' ? receiver.takeAck() : receiver.resume(), before.processed);
            assert.equal(receiver.ackDue, false);
            break;
        }

        assert.ok(sender.acked >= before.acked, 'the sender ack went back');
        assert.ok(
          sender.acked <= sender.written && sender.written <= sender.durable,
          'written outside acked…durable',
        );
        assert.ok(sender.durable <= sender.lastSeq && sender.lastSeq <= Math.max(MAX_SEQ, before.lastSeq));
        assert.ok(sender.size <= capacity, 'the sender holds more than its bound');
        const held = sender.unacked();
        assert.equal(held.length, sender.lastSeq - sender.acked);
        for (const [i, e] of held.entries()) assert.equal(e.seq, sender.acked + 1 + i);
        assert.ok(receiver.processed <= receiver.received && receiver.processed >= before.processed);
      }
    }),
    { numRuns: Math.max(500, Math.ceil(FUZZ_RUNS / 20)), ...FUZZ_SEED },
  );
});
