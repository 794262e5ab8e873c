/**
 * The push API: `POST /api/v1/devices/{deviceId}/messages` accepts a message for a device from a
 * backend service, on any instance. It answers 202 with the sequence number once the message is in
 * the resume store (the same promise as `gateway.send`), 429 `buffer_full`, 404 `unknown_device`,
 * 503 `store_unavailable`. An `application/octet-stream` body is a binary message; any other body
 * (JSON, or text as `curl -d` sends it) is parsed as the JSON message. Authenticated with the service token, which is
 * separate from the admin token; with no token configured the API refuses every call.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors, isValidDeviceId } from '@zerodrop/protocol';
import { type HttpRouter, readBody, sendError, sendJson } from './http-api.js';

/**
 * Bodies read as JSON. `curl -d` sends form-urlencoded and many clients send text/plain: an on-call
 * engineer's first curl must work, so those are read as the JSON they contain.
 */
const JSON_TYPES = new Set(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);

export interface PushDeps {
  /** Checks the service bearer token (see bearer-guard.ts); answers refusals itself. */
  readonly guard: (req: IncomingMessage, res: ServerResponse, action: string) => boolean;
  readonly maxBodyBytes: number;
  send(deviceId: string, value: unknown): Promise<number>;
}

export function registerPushRoutes(router: HttpRouter, deps: PushDeps): void {
  router.on('POST', '/api/v1/devices/:deviceId/messages', async (req, res, params) => {
    if (!deps.guard(req, res, 'push')) return;
    const deviceId = params.deviceId!;
    if (!isValidDeviceId(deviceId)) return sendError(res, Errors.INVALID_BODY, 'device id is not valid');
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/octet-stream' && !JSON_TYPES.has(type))
      return sendError(res, Errors.UNSUPPORTED_MEDIA_TYPE);
    const body = await readBody(req, deps.maxBodyBytes);
    let value: unknown;
    if (type === 'application/octet-stream') {
      value = new Uint8Array(body);
    } else {
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch {
        return sendError(res, Errors.INVALID_BODY, 'the body is not valid JSON');
      }
    }
    const seq = await deps.send(deviceId, value);
    sendJson(res, 202, { device: deviceId, seq });
  });
}
