/**
 * The error a device reports when the gateway closes its connection with a code that means "stop"
 * (4500–4999, 1008). Codes come from the protocol registry; the two it does not hold yet live here,
 * with the same shape, until the registry takes them (`unauthorized` is named by the runbook's resume
 * reasons and by close code 4502).
 */
import { CloseCode, type ErrorSpec, Errors, ZerodropError } from '@zerodrop/protocol';

export const UNAUTHORIZED: ErrorSpec = {
  code: 'unauthorized',
  message: 'the gateway does not allow this device to connect',
  closeCode: CloseCode.UNAUTHORIZED,
};

export const STOPPED_BY_SERVER: ErrorSpec = {
  code: 'stopped_by_server',
  message: 'the gateway closed the connection with a code that tells the device not to reconnect',
};

const BY_CLOSE_CODE: ReadonlyMap<number, ErrorSpec> = new Map<number, ErrorSpec>([
  [CloseCode.SESSION_REPLACED, Errors.SESSION_REPLACED],
  [CloseCode.UNSUPPORTED_VERSION, Errors.UNSUPPORTED_VERSION],
  [CloseCode.UNAUTHORIZED, UNAUTHORIZED],
  [CloseCode.INVALID_HANDSHAKE, Errors.INVALID_HANDSHAKE],
  // 1008 "policy violation" is how a proxy or an auth hook in front of the gateway says no.
  [1008, UNAUTHORIZED],
]);

/** The error for a close code after which `shouldReconnect` said no. */
export function stopError(closeCode: number, reason: string): ZerodropError {
  const spec = BY_CLOSE_CODE.get(closeCode) ?? STOPPED_BY_SERVER;
  return new ZerodropError({ ...spec, closeCode }, reason || spec.message, { closeCode, reason });
}
