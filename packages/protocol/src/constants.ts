/**
 * Protocol-wide constants: the version this code speaks and the defaults that come from the runbook.
 * Every limit here is a default only; the server and SDK take each one as an option.
 */

/** The protocol version carried in `hello.v` and `welcome.v`. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol name a device may offer; the gateway accepts connections without one too. */
export const SUBPROTOCOL = 'zerodrop.v1';

/** Runbook: "Max resume buffer per session: 200 messages" (per direction). */
export const DEFAULT_MAX_UNACKED = 200;

/** Runbook: "Resume store TTL: 15 minutes". */
export const DEFAULT_RESUME_TTL_MS = 15 * 60 * 1000;

/** Sequence numbers and acks are unsigned 32-bit integers on the wire (binary frames carry them as u32). */
export const MAX_SEQ = 0xffff_ffff;

/** First byte of a binary WebSocket message that carries application data. */
export const BINARY_DATA_TAG = 0x01;

/** Binary data frame header: tag (1 byte) + seq (u32 BE) + ack (u32 BE). */
export const BINARY_HEADER_BYTES = 9;
