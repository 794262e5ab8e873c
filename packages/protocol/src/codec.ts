/**
 * Encoding and decoding of frames, with validation. Decoding never throws: any input, however broken,
 * yields either a frame or a registry error, so a gateway can answer bad input with a code and stay up.
 */
import { BINARY_DATA_TAG, BINARY_HEADER_BYTES, MAX_SEQ } from './constants.js';
import { type ErrorSpec, Errors } from './errors.js';
import {
  type BinaryFrame,
  type Frame,
  type Payload,
  RESUME_FAILURE_REASONS,
  type ResumeFailureReason,
  type ResumeRequest,
  type TextFrame,
} from './frames.js';

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: ErrorSpec; detail: string };

/** Longest device id, session id, epoch or token accepted on the wire. */
export const MAX_ID_LENGTH = 128;
const DEVICE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID.test(id);
}

export function isSeq(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_SEQ;
}

function isId(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_ID_LENGTH;
}

function fail(error: ErrorSpec, detail: string): DecodeResult {
  return { ok: false, error, detail };
}

function malformed(detail: string): DecodeResult {
  return fail(Errors.MALFORMED_FRAME, detail);
}

/** Decode one WebSocket message. `data` is the message as received; `isBinary` its opcode. */
export function decodeFrame(data: string | Uint8Array, isBinary: boolean): DecodeResult {
  if (isBinary) {
    if (typeof data === 'string') return malformed('binary message given as text');
    return decodeBinary(data);
  }
  const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: false }).decode(data);
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return malformed('not valid JSON');
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return malformed('not a JSON object');
  return decodeTextObject(obj as Record<string, unknown>);
}

function decodeBinary(buf: Uint8Array): DecodeResult {
  if (buf.length < 1) return malformed('empty binary message');
  if (buf[0] !== BINARY_DATA_TAG)
    return fail(Errors.UNKNOWN_FRAME_TYPE, `binary tag 0x${buf[0]!.toString(16)}`);
  if (buf.length < BINARY_HEADER_BYTES) return malformed('binary data frame shorter than its header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const frame: BinaryFrame = {
    t: 'bin',
    seq: view.getUint32(1),
    ack: view.getUint32(5),
    data: buf.subarray(BINARY_HEADER_BYTES),
  };
  if (frame.seq === 0) return malformed('binary data frame with sequence 0');
  return { ok: true, frame };
}

function decodeResume(r: unknown): ResumeRequest | undefined | null {
  if (r === undefined || r === null) return undefined;
  if (typeof r !== 'object' || Array.isArray(r)) return null;
  const o = r as Record<string, unknown>;
  if (!isId(o.session) || !isId(o.epoch) || !isId(o.token) || !isSeq(o.ack)) return null;
  return { session: o.session, epoch: o.epoch, token: o.token, ack: o.ack };
}

function decodeTextObject(o: Record<string, unknown>): DecodeResult {
  const ok = (frame: TextFrame): DecodeResult => ({ ok: true, frame });
  switch (o.t) {
    case 'hello': {
      if (typeof o.v !== 'number' || !Number.isInteger(o.v))
        return fail(Errors.INVALID_HANDSHAKE, 'hello.v missing');
      if (!isValidDeviceId(o.device))
        return fail(Errors.INVALID_HANDSHAKE, 'hello.device missing or invalid');
      const resume = decodeResume(o.resume);
      if (resume === null) return fail(Errors.INVALID_HANDSHAKE, 'hello.resume malformed');
      return ok(
        resume ? { t: 'hello', v: o.v, device: o.device, resume } : { t: 'hello', v: o.v, device: o.device },
      );
    }
    case 'msg':
      if (!isSeq(o.seq) || o.seq === 0) return malformed('msg.seq must be an integer from 1 to 2^32-1');
      if (!isSeq(o.ack)) return malformed('msg.ack must be an integer from 0 to 2^32-1');
      if (!('data' in o)) return malformed('msg.data missing');
      return ok({ t: 'msg', seq: o.seq, ack: o.ack, data: o.data });
    case 'ack':
      if (!isSeq(o.ack)) return malformed('ack.ack must be an integer from 0 to 2^32-1');
      return ok({ t: 'ack', ack: o.ack });
    case 'ping':
      if (!isSeq(o.id)) return malformed('ping.id must be an integer');
      if (o.ack !== undefined && !isSeq(o.ack)) return malformed('ping.ack must be an integer');
      return ok(o.ack === undefined ? { t: 'ping', id: o.id } : { t: 'ping', id: o.id, ack: o.ack });
    case 'pong':
      if (!isSeq(o.id)) return malformed('pong.id must be an integer');
      return ok({ t: 'pong', id: o.id });
    case 'welcome':
      return decodeWelcome(o);
    case 'reconnect':
      if (typeof o.reason !== 'string' || !isSeq(o.delay_ms))
        return malformed('reconnect needs reason and delay_ms');
      return ok({ t: 'reconnect', reason: o.reason, delay_ms: o.delay_ms });
    case 'error':
      if (typeof o.code !== 'string' || typeof o.message !== 'string')
        return malformed('error needs code and message');
      return ok({ t: 'error', code: o.code, message: o.message });
    default:
      return fail(Errors.UNKNOWN_FRAME_TYPE, `frame type ${describeFrameType(o.t)}`);
  }
}

/**
 * Names an unknown `t` for the error detail without serializing it: `t` comes from the peer, and
 * stringifying a deeply nested value would overflow the stack and make the decoder throw.
 */
function describeFrameType(t: unknown): string {
  if (typeof t === 'string') return JSON.stringify(t.slice(0, 32));
  if (t === null || typeof t !== 'object') return String(t);
  return Array.isArray(t) ? 'array' : 'object';
}

function decodeWelcome(o: Record<string, unknown>): DecodeResult {
  const limits = o.limits as Record<string, unknown> | undefined;
  const valid =
    typeof o.v === 'number' &&
    isId(o.session) &&
    isId(o.epoch) &&
    isId(o.token) &&
    (o.outcome === 'resumed' || o.outcome === 'fresh') &&
    isSeq(o.ack) &&
    isSeq(o.replay) &&
    isSeq(o.replay_from) &&
    isSeq(o.heartbeat_ms) &&
    typeof limits === 'object' &&
    limits !== null &&
    isSeq(limits.max_unacked) &&
    isSeq(limits.max_frame_bytes) &&
    typeof o.instance === 'string';
  if (!valid) return malformed('welcome is missing fields');
  if (o.reason !== undefined && !RESUME_FAILURE_REASONS.includes(o.reason as ResumeFailureReason)) {
    return malformed('welcome.reason unknown');
  }
  return { ok: true, frame: o as unknown as TextFrame };
}

/** Encode a control frame (anything but application data) as WebSocket text. */
export function encodeControl(frame: Exclude<TextFrame, { t: 'msg' }>): string {
  return JSON.stringify(frame);
}

/**
 * Encode one application message with its sequence number and piggybacked ack. JSON payloads are
 * spliced in already serialized, so a stored message is never parsed again on its way out.
 */
export function encodeData(payload: Payload, seq: number, ack: number): string | Uint8Array {
  if (payload.kind === 'json') return `{"t":"msg","seq":${seq},"ack":${ack},"data":${payload.json}}`;
  const out = new Uint8Array(BINARY_HEADER_BYTES + payload.bytes.length);
  const view = new DataView(out.buffer);
  out[0] = BINARY_DATA_TAG;
  view.setUint32(1, seq);
  view.setUint32(5, ack);
  out.set(payload.bytes, BINARY_HEADER_BYTES);
  return out;
}

/** Turn an application value into a payload: bytes travel as binary, anything else as JSON. */
export function toPayload(value: unknown): Payload {
  if (value instanceof Uint8Array) return { kind: 'binary', bytes: value };
  if (value instanceof ArrayBuffer) return { kind: 'binary', bytes: new Uint8Array(value) };
  if (ArrayBuffer.isView(value)) {
    return { kind: 'binary', bytes: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
  }
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('message is not JSON-serializable');
  return { kind: 'json', json };
}

/** Size of a payload in bytes as it travels (used for limits and metrics). */
export function payloadBytes(p: Payload): number {
  return p.kind === 'json' ? p.json.length : p.bytes.length;
}
