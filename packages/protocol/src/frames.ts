/**
 * The frames of the zerodrop wire protocol, as TypeScript types. Control frames and JSON data travel
 * as WebSocket text messages holding one JSON object with a `t` field; binary application data travels
 * as WebSocket binary messages with a 9-byte header (see `codec.ts`). `docs/PROTOCOL.md` is the
 * normative description for firmware authors.
 */

/** Why a resume attempt produced a fresh session instead. */
export const RESUME_FAILURE_REASONS = [
  'expired',
  'unknown_session',
  'epoch_mismatch',
  'store_unavailable',
  'unauthorized',
] as const;
export type ResumeFailureReason = (typeof RESUME_FAILURE_REASONS)[number];

/** What a device holds when it asks to resume. */
export interface ResumeRequest {
  session: string;
  epoch: string;
  token: string;
  /** Highest server→device sequence number the device has delivered to its application (0 if none). */
  ack: number;
}

/** device → server: the first frame on every connection. */
export interface HelloFrame {
  t: 'hello';
  v: number;
  device: string;
  resume?: ResumeRequest;
}

export interface SessionLimits {
  /** Maximum unacknowledged messages per direction. */
  max_unacked: number;
  /** Maximum size of one WebSocket message in bytes. */
  max_frame_bytes: number;
}

/** server → device: the answer to `hello`. */
export interface WelcomeFrame {
  t: 'welcome';
  v: number;
  session: string;
  epoch: string;
  /** Resume token to present next time; it changes on every handshake. */
  token: string;
  outcome: 'resumed' | 'fresh';
  /** Present when `outcome` is `fresh` although the device asked to resume. */
  reason?: ResumeFailureReason;
  /** Highest device→server sequence the server has processed; the device replays everything above it. */
  ack: number;
  /** How many server→device messages the server is about to replay (sequence numbers `replay_from`…). */
  replay: number;
  replay_from: number;
  heartbeat_ms: number;
  limits: SessionLimits;
  instance: string;
}

/** Either direction: one JSON application message. */
export interface MessageFrame {
  t: 'msg';
  seq: number;
  /** Piggybacked cumulative ack for the opposite direction. */
  ack: number;
  data: unknown;
}

/** Either direction: a cumulative ack on its own. */
export interface AckFrame {
  t: 'ack';
  ack: number;
}

/** Either direction: liveness probe; the server's pings measure RTT. May carry a cumulative ack. */
export interface PingFrame {
  t: 'ping';
  id: number;
  ack?: number;
}

export interface PongFrame {
  t: 'pong';
  id: number;
}

/** server → device: please reconnect (and resume) after `delay_ms`; used by drain. */
export interface ReconnectFrame {
  t: 'reconnect';
  reason: string;
  delay_ms: number;
}

/** Either direction: something was wrong with a frame; the connection may stay open. */
export interface ErrorFrame {
  t: 'error';
  code: string;
  message: string;
}

/** Binary application data (WebSocket binary message). */
export interface BinaryFrame {
  t: 'bin';
  seq: number;
  ack: number;
  data: Uint8Array;
}

export type TextFrame =
  | HelloFrame
  | WelcomeFrame
  | MessageFrame
  | AckFrame
  | PingFrame
  | PongFrame
  | ReconnectFrame
  | ErrorFrame;

export type Frame = TextFrame | BinaryFrame;

/** An application payload as the reliable channel carries it: JSON (already serialized) or bytes. */
export type Payload =
  | { readonly kind: 'json'; readonly json: string }
  | { readonly kind: 'binary'; readonly bytes: Uint8Array };
