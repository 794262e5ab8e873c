/**
 * The one error registry of zerodrop. Every error the gateway, the SDK or the CLI reports carries a
 * stable string code from this table, and the HTTP status or WebSocket close code it causes. Codes are
 * never reused or renamed; `docs/errors.md` lists them. Tests assert the code, never the message.
 */
import { CloseCode } from './close-codes.js';

export interface ErrorSpec {
  /** Stable snake_case code, also sent in `error` frames and HTTP error bodies. */
  readonly code: string;
  /** What happened, in words an operator understands. */
  readonly message: string;
  /** HTTP status when the error answers an HTTP request. */
  readonly httpStatus?: number;
  /** WebSocket close code when the error ends a connection. */
  readonly closeCode?: number;
}

function spec<const S extends ErrorSpec>(s: S): S {
  return s;
}

export const Errors = {
  // Delivery
  BUFFER_FULL: spec({
    code: 'buffer_full',
    message: 'the session already holds the maximum number of unacknowledged messages',
    httpStatus: 429,
  }),
  UNKNOWN_DEVICE: spec({
    code: 'unknown_device',
    message: 'no session exists for this device',
    httpStatus: 404,
  }),
  STORE_UNAVAILABLE: spec({
    code: 'store_unavailable',
    message: 'the resume store could not be reached',
    httpStatus: 503,
  }),
  SESSION_MOVED: spec({
    code: 'session_moved',
    message: 'another instance took the session over; the message was not accepted here',
    httpStatus: 503,
  }),
  CLIENT_CLOSED: spec({ code: 'client_closed', message: 'the client was closed by the application' }),

  // Wire protocol
  MALFORMED_FRAME: spec({ code: 'malformed_frame', message: 'the frame could not be decoded' }),
  UNKNOWN_FRAME_TYPE: spec({
    code: 'unknown_frame_type',
    message: 'the frame type is not part of the protocol',
  }),
  FRAME_TOO_LARGE: spec({
    code: 'frame_too_large',
    message: 'the frame exceeds the maximum frame size',
    closeCode: CloseCode.MESSAGE_TOO_BIG,
  }),
  ACK_OUT_OF_RANGE: spec({
    code: 'ack_out_of_range',
    message: 'the ack names a sequence number that was never sent',
    closeCode: CloseCode.PROTOCOL_VIOLATION,
  }),
  SEQUENCE_GAP: spec({
    code: 'sequence_gap',
    message: 'a data frame skipped sequence numbers',
    closeCode: CloseCode.PROTOCOL_VIOLATION,
  }),
  WINDOW_EXCEEDED: spec({
    code: 'window_exceeded',
    message: 'the device sent more unacknowledged messages than limits.max_unacked allows',
    closeCode: CloseCode.PROTOCOL_VIOLATION,
  }),
  HANDSHAKE_REQUIRED: spec({
    code: 'handshake_required',
    message: 'a frame arrived before the handshake completed',
    closeCode: CloseCode.PROTOCOL_VIOLATION,
  }),
  INVALID_HANDSHAKE: spec({
    code: 'invalid_handshake',
    message: 'the hello frame is missing required fields',
    closeCode: CloseCode.INVALID_HANDSHAKE,
  }),
  UNSUPPORTED_VERSION: spec({
    code: 'unsupported_version',
    message: 'the protocol version is not supported',
    closeCode: CloseCode.UNSUPPORTED_VERSION,
  }),
  HANDSHAKE_TIMEOUT: spec({
    code: 'handshake_timeout',
    message: 'the handshake did not complete in time',
    closeCode: CloseCode.HANDSHAKE_TIMEOUT,
  }),
  HEARTBEAT_TIMEOUT: spec({
    code: 'heartbeat_timeout',
    message: 'no frame arrived within the heartbeat timeout',
    closeCode: CloseCode.HEARTBEAT_TIMEOUT,
  }),
  SHUTTING_DOWN: spec({
    code: 'shutting_down',
    message: 'the instance is shutting down; reconnect and resume',
    closeCode: CloseCode.SHUTTING_DOWN,
  }),
  SESSION_REPLACED: spec({
    code: 'session_replaced',
    message: 'a newer connection of the same device took the session over',
    closeCode: CloseCode.SESSION_REPLACED,
  }),

  // HTTP surface and admission
  OVER_CAPACITY: spec({
    code: 'over_capacity',
    message: 'the instance is at its connection limit',
    httpStatus: 503,
  }),
  DRAINING: spec({
    code: 'draining',
    message: 'the instance is draining and accepts no new connections',
    httpStatus: 503,
  }),
  NOT_FOUND: spec({ code: 'not_found', message: 'no such route', httpStatus: 404 }),
  METHOD_NOT_ALLOWED: spec({
    code: 'method_not_allowed',
    message: 'method not allowed on this route',
    httpStatus: 405,
  }),
  UPGRADE_REQUIRED: spec({
    code: 'upgrade_required',
    message: 'this path accepts WebSocket upgrades only',
    httpStatus: 426,
  }),
  UNAUTHORIZED: spec({
    code: 'unauthorized',
    message: 'missing or wrong bearer token',
    httpStatus: 401,
    closeCode: CloseCode.UNAUTHORIZED,
  }),
  ADMIN_NOT_CONFIGURED: spec({
    code: 'admin_not_configured',
    message: 'the admin API is off: set ZERODROP_ADMIN_TOKEN to enable it',
    httpStatus: 503,
  }),
  DRAIN_IN_PROGRESS: spec({
    code: 'drain_in_progress',
    message: 'a drain is already running or finished on this instance',
    httpStatus: 409,
  }),
  DRAIN_NOT_STARTED: spec({
    code: 'drain_not_started',
    message: 'no drain is running on this instance: start one first (complete closes every device)',
    httpStatus: 409,
  }),
  DRAIN_CLOSE: spec({
    code: 'drain',
    message: 'the instance is draining; reconnect and resume on another instance',
    closeCode: CloseCode.RECONNECT,
  }),
  DEVICE_UNAUTHORIZED: spec({
    code: 'device_unauthorized',
    message: 'the device token was refused',
    httpStatus: 401,
    closeCode: CloseCode.UNAUTHORIZED,
  }),
  TOO_MANY_PENDING: spec({
    code: 'too_many_pending',
    message: 'too many connections have not completed their handshake',
    httpStatus: 503,
  }),
  TOO_MANY_FROM_ADDRESS: spec({
    code: 'too_many_from_address',
    message: 'too many connections from this client address',
    httpStatus: 429,
  }),
  ORIGIN_NOT_ALLOWED: spec({
    code: 'origin_not_allowed',
    message: 'this browser Origin may not connect',
    httpStatus: 403,
  }),
  RATE_LIMITED: spec({
    code: 'rate_limited',
    message: 'too many frames per second from this device; reconnect after a backoff',
    closeCode: CloseCode.RATE_LIMITED,
  }),
  TOO_MANY_AUTH_FAILURES: spec({
    code: 'too_many_auth_failures',
    message: 'too many failed authentications from this address; wait a minute',
    httpStatus: 429,
  }),
  PUSH_NOT_CONFIGURED: spec({
    code: 'push_not_configured',
    message: 'the push API is off: set ZERODROP_SERVICE_TOKEN to enable it',
    httpStatus: 503,
  }),
  UNSUPPORTED_MEDIA_TYPE: spec({
    code: 'unsupported_media_type',
    message: 'send application/json or application/octet-stream',
    httpStatus: 415,
  }),
  INTERNAL: spec({
    code: 'internal',
    message: 'internal error; the gateway logged the cause',
    httpStatus: 500,
  }),
  INVALID_BODY: spec({ code: 'invalid_body', message: 'the request body is invalid', httpStatus: 400 }),
  BODY_TOO_LARGE: spec({ code: 'body_too_large', message: 'the request body is too large', httpStatus: 413 }),

  // Configuration (start-up)
  INVALID_CONFIG: spec({ code: 'invalid_config', message: 'the configuration is invalid' }),
} as const;

export type ErrorName = keyof typeof Errors;
export type ErrorCode = (typeof Errors)[ErrorName]['code'];

/** An error value with a registry code; `httpStatus` / `closeCode` say how it surfaces. */
export class ZerodropError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number | undefined;
  readonly closeCode: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(s: ErrorSpec, message?: string, details?: Record<string, unknown>) {
    super(message ?? s.message);
    this.name = 'ZerodropError';
    this.code = s.code as ErrorCode;
    this.httpStatus = s.httpStatus;
    this.closeCode = s.closeCode;
    this.details = details;
  }
}

export function createError(
  s: ErrorSpec,
  message?: string,
  details?: Record<string, unknown>,
): ZerodropError {
  return new ZerodropError(s, message, details);
}

export function isZerodropError(err: unknown, s?: ErrorSpec): err is ZerodropError {
  return err instanceof ZerodropError && (s === undefined || err.code === s.code);
}
