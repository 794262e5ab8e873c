/**
 * @zerodrop/client: the zerodrop device SDK for Node 20 and browsers. It keeps one session with the
 * gateway across reconnects and delivers every message exactly once, in order, in both directions.
 */
export { Errors, isZerodropError, ZerodropError } from '@zerodrop/protocol';
export type { BackoffOptions } from './backoff.js';
export {
  type ClientEvents,
  type ClientStats,
  type ClientStatus,
  createClient,
  type MessageMeta,
  type SessionInfo,
  ZerodropClient,
} from './client.js';
export type { ClientOptions } from './options.js';
export { STOPPED_BY_SERVER, UNAUTHORIZED } from './stop-errors.js';
export { mintDeviceToken } from './token.js';
export type { WebSocketConstructor } from './transport.js';
