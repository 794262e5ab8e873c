/**
 * WebSocket close codes the gateway uses, in two ranges that tell a device what to do next:
 * 4000–4499 mean "reconnect (with backoff) and resume", 4500–4999 mean "stop and report to the
 * application". Standard codes below 4000 follow RFC 6455; of those only 1008 (policy) stops a device.
 */

export const CloseCode = {
  /** Normal closure, asked for by the application on either side. */
  NORMAL: 1000,
  /** The server is going away (process exit); reconnect and resume. */
  GOING_AWAY: 1001,
  /** A frame exceeded the configured maximum size. */
  MESSAGE_TOO_BIG: 1009,
  /** The server asked the device to move (drain, rebalancing); reconnect and resume at once. */
  RECONNECT: 4000,
  /** No frame arrived within the heartbeat timeout. */
  HEARTBEAT_TIMEOUT: 4001,
  /** The device broke the protocol (sequence gap, ack for a sequence never sent, data before hello). */
  PROTOCOL_VIOLATION: 4002,
  /** The device did not complete the handshake in time. */
  HANDSHAKE_TIMEOUT: 4003,
  /** The instance is shutting down after its drain; reconnect and resume elsewhere. */
  SHUTTING_DOWN: 4004,
  /** The device sent more messages per second than allowed; reconnect after backoff. */
  RATE_LIMITED: 4005,
  /** A newer connection of the same device took this session over. */
  SESSION_REPLACED: 4500,
  /** The device speaks a protocol version this gateway does not. */
  UNSUPPORTED_VERSION: 4501,
  /** The device is not allowed to connect. */
  UNAUTHORIZED: 4502,
  /** The hello frame was missing or malformed. */
  INVALID_HANDSHAKE: 4503,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Whether a device that saw this close code should reconnect and resume. Codes 4500–4999 and 1008
 * (policy violation) stop it; everything else, including an abnormal closure (1006), reconnects.
 */
export function shouldReconnect(code: number): boolean {
  if (code >= 4500 && code <= 4999) return false;
  if (code === 1008) return false;
  return true;
}
