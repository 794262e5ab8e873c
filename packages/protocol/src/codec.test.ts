/**
 * Unit tests of the wire codec: every frame type survives encode → decode, binary data frames have
 * the documented 9-byte header, and every kind of bad input is refused with its registry code (the
 * code, never the message, is what these tests pin down). `codec.fuzz.test.ts` throws random input at
 * the same functions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DecodeResult,
  decodeFrame,
  encodeControl,
  encodeData,
  payloadBytes,
  toPayload,
} from './codec.js';
import { BINARY_DATA_TAG, BINARY_HEADER_BYTES, MAX_SEQ } from './constants.js';
import { type ErrorSpec, Errors } from './errors.js';
import type { Frame, HelloFrame, TextFrame, WelcomeFrame } from './frames.js';

function decodeText(text: string): DecodeResult {
  return decodeFrame(text, false);
}

/** Decode and return the frame, failing the test with the decoder's detail on a refusal. */
function decodedFrame(data: string | Uint8Array, isBinary = typeof data !== 'string'): Frame {
  const r = decodeFrame(data, isBinary);
  assert.ok(r.ok, r.ok ? '' : `refused with ${r.error.code}: ${r.detail}`);
  return r.frame;
}

function assertRefused(r: DecodeResult, expected: ErrorSpec, why: string): void {
  assert.equal(r.ok, false, `${why}: accepted`);
  if (r.ok) return;
  assert.equal(r.error.code, expected.code, `${why}: ${r.detail}`);
  assert.equal(r.error, expected, `${why}: the error is the registry entry itself`);
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

const welcome: WelcomeFrame = {
  t: 'welcome',
  v: 1,
  session: 's-1',
  epoch: 'e-1',
  token: 'tok',
  outcome: 'fresh',
  reason: 'expired',
  ack: 3,
  replay: 2,
  replay_from: 8,
  heartbeat_ms: 15000,
  limits: { max_unacked: 200, max_frame_bytes: 65536 },
  instance: 'gw-a',
};

describe('round trips', () => {
  const controlFrames: Exclude<TextFrame, { t: 'msg' }>[] = [
    { t: 'hello', v: 1, device: 'dev-1' },
    { t: 'hello', v: 1, device: 'a.B_9:x@y-z', resume: { session: 's', epoch: 'e', token: 't', ack: 41 } },
    welcome,
    { ...welcome, outcome: 'resumed', reason: undefined },
    { t: 'ack', ack: 0 },
    { t: 'ack', ack: MAX_SEQ },
    { t: 'ping', id: 7 },
    { t: 'ping', id: 7, ack: 12 },
    { t: 'pong', id: 7 },
    { t: 'reconnect', reason: 'drain', delay_ms: 250 },
    { t: 'error', code: 'buffer_full', message: 'slow down' },
  ];
  for (const frame of controlFrames) {
    const label = `${frame.t} ${JSON.stringify(frame).slice(0, 60)}`;
    test(`a ${label} frame decodes to what was encoded`, () => {
      const expected = JSON.parse(JSON.stringify(frame));
      assert.deepEqual(decodedFrame(encodeControl(frame)), expected);
    });
  }

  test('a JSON message decodes to its sequence, ack and data', () => {
    const data = { temp: 21.5, tags: ['a', 'b'], nested: { ok: true, none: null } };
    const wire = encodeData(toPayload(data), 5, 4);
    assert.equal(typeof wire, 'string');
    assert.deepEqual(decodedFrame(wire), { t: 'msg', seq: 5, ack: 4, data });
  });

  test('JSON messages carry any JSON value, including null and strings', () => {
    for (const data of [null, 'text', 0, false, [], {}]) {
      assert.deepEqual(decodedFrame(encodeData(toPayload(data), 1, 0)), { t: 'msg', seq: 1, ack: 0, data });
    }
  });

  test('a stored JSON payload is spliced in verbatim, not parsed and re-serialized', () => {
    const wire = encodeData({ kind: 'json', json: '{"b":1,  "a":2}' }, 9, 8);
    assert.equal(wire, '{"t":"msg","seq":9,"ack":8,"data":{"b":1,  "a":2}}');
  });

  test('a binary message decodes to its sequence, ack and bytes', () => {
    const payload = bytes(0, 1, 2, 254, 255);
    const wire = encodeData(toPayload(payload), 3, 2);
    assert.ok(wire instanceof Uint8Array);
    assert.deepEqual(decodedFrame(wire), { t: 'bin', seq: 3, ack: 2, data: payload });
  });

  test('a text frame may be given as UTF-8 bytes', () => {
    const wire = encodeControl({ t: 'error', code: 'x', message: 'grüße ✓' });
    assert.deepEqual(decodedFrame(new TextEncoder().encode(wire), false), {
      t: 'error',
      code: 'x',
      message: 'grüße ✓',
    });
  });
});

describe('binary data frames', () => {
  test('have a 9-byte header: tag 0x01, u32 BE seq, u32 BE ack, then the payload', () => {
    const wire = encodeData(toPayload(bytes(0xaa, 0xbb)), 0x01020304, 0x0a0b0c0d);
    assert.equal(BINARY_HEADER_BYTES, 9);
    assert.deepEqual(wire, bytes(BINARY_DATA_TAG, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0xaa, 0xbb));
  });

  test('carry sequence and ack numbers up to 2^32-1', () => {
    const wire = encodeData(toPayload(new Uint8Array(0)), MAX_SEQ, MAX_SEQ);
    assert.deepEqual(wire, bytes(0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    assert.deepEqual(decodedFrame(wire), { t: 'bin', seq: MAX_SEQ, ack: MAX_SEQ, data: new Uint8Array(0) });
  });

  test('decode from a view into a larger buffer', () => {
    const backing = bytes(0xee, 0xee, 0x01, 0, 0, 0, 7, 0, 0, 0, 6, 0x42, 0xee);
    const view = backing.subarray(2, 12);
    assert.deepEqual(decodedFrame(view), { t: 'bin', seq: 7, ack: 6, data: bytes(0x42) });
  });

  test('a binary frame with an empty payload is valid', () => {
    assert.deepEqual(decodedFrame(bytes(1, 0, 0, 0, 1, 0, 0, 0, 0)), {
      t: 'bin',
      seq: 1,
      ack: 0,
      data: new Uint8Array(0),
    });
  });
});

describe('rejections', () => {
  test('text that is not JSON is malformed_frame', () => {
    for (const text of ['', '{', 'hello', '{"t":"ack","ack":1,}', "{'t':'ack'}", 'NaN', '{"t":"ack"} x']) {
      assertRefused(decodeText(text), Errors.MALFORMED_FRAME, JSON.stringify(text));
    }
  });

  test('JSON that is not an object is malformed_frame', () => {
    for (const text of ['null', '[]', '[{"t":"ack","ack":1}]', '1', '"ack"', 'true']) {
      assertRefused(decodeText(text), Errors.MALFORMED_FRAME, text);
    }
  });

  test('an object with a type outside the protocol is unknown_frame_type', () => {
    for (const text of [
      '{}',
      '{"t":"bogus"}',
      '{"t":"MSG"}',
      '{"t":1}',
      '{"t":null}',
      '{"t":["msg"]}',
      '{"t":{}}',
    ]) {
      assertRefused(decodeText(text), Errors.UNKNOWN_FRAME_TYPE, text);
    }
  });

  test('a deeply nested type is refused with a code, not a stack overflow', () => {
    const depth = 100_000;
    assertRefused(
      decodeText(`{"t":${'['.repeat(depth)}${']'.repeat(depth)}}`),
      Errors.UNKNOWN_FRAME_TYPE,
      'nested array',
    );
    assertRefused(
      decodeText(`{"t":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`),
      Errors.UNKNOWN_FRAME_TYPE,
      'nested object',
    );
  });

  test('a message with sequence 0 is malformed_frame', () => {
    assertRefused(decodeText('{"t":"msg","seq":0,"ack":0,"data":1}'), Errors.MALFORMED_FRAME, 'seq 0');
  });

  test('sequence and ack numbers beyond 2^32-1 are malformed_frame', () => {
    const over = MAX_SEQ + 1;
    const cases = [
      `{"t":"msg","seq":${over},"ack":0,"data":1}`,
      `{"t":"msg","seq":1,"ack":${over},"data":1}`,
      `{"t":"ack","ack":${over}}`,
      `{"t":"ack","ack":1e400}`,
      `{"t":"ping","id":${over}}`,
      `{"t":"ping","id":1,"ack":${over}}`,
      `{"t":"pong","id":${over}}`,
    ];
    for (const text of cases) assertRefused(decodeText(text), Errors.MALFORMED_FRAME, text);
  });

  test('the largest sequence and ack numbers are accepted', () => {
    assert.deepEqual(decodedFrame(`{"t":"msg","seq":${MAX_SEQ},"ack":${MAX_SEQ},"data":1}`), {
      t: 'msg',
      seq: MAX_SEQ,
      ack: MAX_SEQ,
      data: 1,
    });
  });

  test('negative, fractional or non-numeric sequence numbers are malformed_frame', () => {
    for (const bad of ['-1', '1.5', '"1"', 'null', 'true', '[1]', '{}']) {
      for (const text of [
        `{"t":"msg","seq":${bad},"ack":0,"data":1}`,
        `{"t":"msg","seq":1,"ack":${bad},"data":1}`,
        `{"t":"ack","ack":${bad}}`,
        `{"t":"ping","id":${bad}}`,
        `{"t":"ping","id":1,"ack":${bad}}`,
        `{"t":"pong","id":${bad}}`,
        `{"t":"reconnect","reason":"drain","delay_ms":${bad}}`,
      ]) {
        assertRefused(decodeText(text), Errors.MALFORMED_FRAME, text);
      }
    }
  });

  test('a number written as 1.0 or 1e0 is the integer 1', () => {
    assert.deepEqual(decodedFrame('{"t":"ack","ack":1.0}'), { t: 'ack', ack: 1 });
    assert.deepEqual(decodedFrame('{"t":"ack","ack":1e0}'), { t: 'ack', ack: 1 });
  });

  test('fields missing from msg, ack, ping, pong, reconnect and error frames are malformed_frame', () => {
    const cases = [
      '{"t":"msg","seq":1,"ack":0}',
      '{"t":"msg","ack":0,"data":1}',
      '{"t":"msg","seq":1,"data":1}',
      '{"t":"ack"}',
      '{"t":"ping"}',
      '{"t":"pong"}',
      '{"t":"reconnect","delay_ms":1}',
      '{"t":"reconnect","reason":"drain"}',
      '{"t":"error","code":"x"}',
      '{"t":"error","message":"x"}',
      '{"t":"error","code":1,"message":"x"}',
    ];
    for (const text of cases) assertRefused(decodeText(text), Errors.MALFORMED_FRAME, text);
  });

  test('a msg whose data is null is valid; one without data is not', () => {
    assert.deepEqual(decodedFrame('{"t":"msg","seq":1,"ack":0,"data":null}'), {
      t: 'msg',
      seq: 1,
      ack: 0,
      data: null,
    });
    assertRefused(decodeText('{"t":"msg","seq":1,"ack":0}'), Errors.MALFORMED_FRAME, 'no data');
  });

  test('a hello without a usable version or device id is invalid_handshake', () => {
    const long = 'd'.repeat(129);
    const cases = [
      '{"t":"hello","device":"dev"}',
      '{"t":"hello","v":"1","device":"dev"}',
      '{"t":"hello","v":1.5,"device":"dev"}',
      '{"t":"hello","v":1}',
      '{"t":"hello","v":1,"device":""}',
      '{"t":"hello","v":1,"device":"has space"}',
      '{"t":"hello","v":1,"device":"slash/inside"}',
      `{"t":"hello","v":1,"device":"${long}"}`,
      '{"t":"hello","v":1,"device":42}',
    ];
    for (const text of cases) assertRefused(decodeText(text), Errors.INVALID_HANDSHAKE, text);
  });

  test('a hello with a malformed resume request is invalid_handshake', () => {
    const ok = { session: 's', epoch: 'e', token: 't', ack: 0 };
    const resumes: unknown[] = [
      'yes',
      1,
      [],
      { ...ok, session: undefined },
      { ...ok, epoch: '' },
      { ...ok, token: 't'.repeat(129) },
      { ...ok, token: 7 },
      { ...ok, ack: -1 },
      { ...ok, ack: MAX_SEQ + 1 },
      { ...ok, ack: '0' },
    ];
    for (const resume of resumes) {
      const text = JSON.stringify({ t: 'hello', v: 1, device: 'dev', resume });
      assertRefused(decodeText(text), Errors.INVALID_HANDSHAKE, text);
    }
  });

  test('invalid_handshake closes the connection with 4503', () => {
    const r = decodeText('{"t":"hello","v":1}');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.closeCode, 4503);
  });

  test('a hello whose resume is null is a hello without resume', () => {
    const expected: HelloFrame = { t: 'hello', v: 1, device: 'dev' };
    assert.deepEqual(decodedFrame('{"t":"hello","v":1,"device":"dev","resume":null}'), expected);
  });

  test('a hello keeps only the fields of the protocol', () => {
    const text =
      '{"t":"hello","v":1,"device":"dev","extra":true,"resume":{"session":"s","epoch":"e","token":"t","ack":1,"x":2}}';
    assert.deepEqual(decodedFrame(text), {
      t: 'hello',
      v: 1,
      device: 'dev',
      resume: { session: 's', epoch: 'e', token: 't', ack: 1 },
    });
  });

  test('a welcome with a missing or mistyped field is malformed_frame', () => {
    const mutations: [string, unknown][] = [
      ['v', '1'],
      ['session', ''],
      ['epoch', 'e'.repeat(129)],
      ['token', undefined],
      ['outcome', 'maybe'],
      ['ack', -1],
      ['replay', 1.5],
      ['replay_from', undefined],
      ['heartbeat_ms', MAX_SEQ + 1],
      ['limits', null],
      ['limits', 'none'],
      ['limits', { max_unacked: 200 }],
      ['limits', { max_unacked: -1, max_frame_bytes: 1 }],
      ['instance', 3],
      ['reason', 'bored'],
    ];
    for (const [field, value] of mutations) {
      const text = JSON.stringify({ ...welcome, [field]: value });
      assertRefused(decodeText(text), Errors.MALFORMED_FRAME, `welcome.${field} = ${JSON.stringify(value)}`);
    }
  });

  test('an empty binary message is malformed_frame', () => {
    assertRefused(decodeFrame(new Uint8Array(0), true), Errors.MALFORMED_FRAME, 'empty');
  });

  test('a binary message shorter than its 9-byte header is malformed_frame', () => {
    for (let length = 1; length < BINARY_HEADER_BYTES; length++) {
      const short = new Uint8Array(length);
      short[0] = BINARY_DATA_TAG;
      assertRefused(decodeFrame(short, true), Errors.MALFORMED_FRAME, `${length} bytes`);
    }
  });

  test('a binary message with an unknown tag is unknown_frame_type', () => {
    for (const tag of [0x00, 0x02, 0x7b, 0xff]) {
      const frame = bytes(tag, 0, 0, 0, 1, 0, 0, 0, 0, 9);
      assertRefused(decodeFrame(frame, true), Errors.UNKNOWN_FRAME_TYPE, `tag ${tag}`);
    }
  });

  test('a binary data frame with sequence 0 is malformed_frame', () => {
    assertRefused(decodeFrame(bytes(1, 0, 0, 0, 0, 0, 0, 0, 0, 9), true), Errors.MALFORMED_FRAME, 'seq 0');
  });

  test('a binary message handed over as a string is malformed_frame', () => {
    assertRefused(decodeFrame('\u0001abcdefgh', true), Errors.MALFORMED_FRAME, 'string');
  });

  test('a JSON text frame sent as a binary message is not decoded as JSON', () => {
    const text = new TextEncoder().encode('{"t":"ack","ack":1}');
    assertRefused(decodeFrame(text, true), Errors.UNKNOWN_FRAME_TYPE, 'binary opcode');
  });
});

describe('toPayload', () => {
  test('bytes travel as binary without a copy', () => {
    const data = bytes(1, 2, 3);
    const p = toPayload(data);
    assert.equal(p.kind, 'binary');
    if (p.kind === 'binary') assert.equal(p.bytes, data);
    assert.equal(payloadBytes(p), 3);
  });

  test('an ArrayBuffer travels as binary', () => {
    const p = toPayload(bytes(4, 5).buffer);
    assert.deepEqual(p, { kind: 'binary', bytes: bytes(4, 5) });
  });

  test('any other view travels as the bytes it covers, not its whole buffer', () => {
    const backing = bytes(0, 1, 2, 3, 4, 5, 6, 7);
    const p = toPayload(new DataView(backing.buffer, 2, 3));
    assert.deepEqual(p, { kind: 'binary', bytes: bytes(2, 3, 4) });
    const words = toPayload(new Uint16Array(backing.buffer, 4, 2));
    assert.deepEqual(words, { kind: 'binary', bytes: bytes(4, 5, 6, 7) });
  });

  test('every other value travels as JSON', () => {
    assert.deepEqual(toPayload({ a: [1, 'x'] }), { kind: 'json', json: '{"a":[1,"x"]}' });
    assert.deepEqual(toPayload('hi'), { kind: 'json', json: '"hi"' });
    assert.deepEqual(toPayload(null), { kind: 'json', json: 'null' });
    assert.equal(payloadBytes(toPayload('hi')), 4);
  });

  test('a value JSON cannot represent is refused with a TypeError', () => {
    for (const value of [undefined, () => 1, Symbol('s')]) {
      assert.throws(() => toPayload(value), TypeError);
    }
  });
});
