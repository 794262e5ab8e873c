/**
 * What the application behind the gateway sees: a handler for device messages and a dead-letter hook.
 * The gateway hands each device→server sequence number to `onMessage` exactly once, in order per
 * session, and acknowledges it to the device only after the returned promise resolved.
 */

export interface DeviceMessage {
  /**
   * `<sessionId>/<seq>`: the same for every delivery of this message. The gateway hands a message
   * over once; only when an instance dies between the handler resolving and the store recording it
   * does the next instance hand it over again, with the same id. An application whose effects must
   * happen once keys them on this id.
   */
  readonly id: string;
  readonly deviceId: string;
  readonly sessionId: string;
  /** Sequence number within the session (1, 2, 3…). */
  readonly seq: number;
  /** Parsed JSON value, or the bytes of a binary message. */
  readonly data: unknown;
  readonly binary: boolean;
}

export interface DeadLetter {
  readonly deviceId: string;
  readonly sessionId: string;
  readonly direction: 'server_to_device' | 'device_to_server';
  readonly seq: number;
  readonly reason: 'expired' | 'handler_failed';
  /** The message itself: a JSON value, or bytes. */
  readonly data: unknown;
  readonly binary: boolean;
}

export interface SessionEvent {
  readonly deviceId: string;
  readonly sessionId: string;
  readonly outcome: 'resumed' | 'fresh';
}

export interface GatewayApp {
  /** A device message, exactly once per sequence number. Reject to mark it failed (it is dead-lettered). */
  onMessage?(message: DeviceMessage): void | Promise<void>;
  /** A device completed its handshake. */
  onSession?(event: SessionEvent): void;
  /** A message that can no longer be delivered. The default logs it as a structured `dead_letter` event. */
  onDeadLetter?(letter: DeadLetter): void | Promise<void>;
}
