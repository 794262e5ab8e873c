/**
 * The admin API, at the runbook's paths: `GET /admin/drain/status`, `POST /admin/drain/start`
 * (`{"reason": "...", "max_session_age_seconds": N}`), `POST /admin/drain/complete` and
 * `POST /admin/drain/cancel`. Every call needs `Authorization: Bearer <ZERODROP_ADMIN_TOKEN>`,
 * compared in constant time; with no token configured every call is refused (never open by default).
 * Bodies are read as JSON whatever their Content-Type, because the runbook's own
 * `curl -X POST -d '{...}'` sends form-urlencoded. Auth stays inside this module.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createError, Errors } from '@zerodrop/protocol';
import type { DrainController } from './drain.js';
import { type HttpRouter, readBody, sendError, sendJson } from './http-api.js';

export interface AdminDeps {
  /** Checks the admin bearer token (see bearer-guard.ts); answers refusals itself. */
  readonly guard: (req: IncomingMessage, res: ServerResponse, action: string) => boolean;
  readonly drain: DrainController;
  /** Used when start gives no `max_session_age_seconds`. */
  readonly defaultMaxAgeSeconds: number;
}

export interface DrainStartBody {
  reason: string;
  max_session_age_seconds: number;
}

const MAX_AGE_LIMIT_S = 24 * 3600;
const START_FIELDS = new Set(['reason', 'max_session_age_seconds']);

/** Validate a drain start body; throws `invalid_body` naming the field. */
export function parseDrainStart(raw: string, defaultMaxAge: number): DrainStartBody {
  const bad = (message: string) => createError(Errors.INVALID_BODY, message);
  let body: unknown = {};
  if (raw.trim() !== '') {
    try {
      body = JSON.parse(raw);
    } catch {
      throw bad('the body is not valid JSON');
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw bad('the body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!START_FIELDS.has(key)) throw bad(`unknown field "${key.slice(0, 64)}"`);
  const reason = o.reason ?? 'unspecified';
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > 200) {
    throw bad('reason must be a string of 1 to 200 characters');
  }
  const age = o.max_session_age_seconds ?? defaultMaxAge;
  if (typeof age !== 'number' || !Number.isInteger(age) || age < 0 || age > MAX_AGE_LIMIT_S) {
    throw bad(`max_session_age_seconds must be a whole number from 0 to ${MAX_AGE_LIMIT_S}`);
  }
  return { reason, max_session_age_seconds: age };
}

export function registerAdminRoutes(router: HttpRouter, deps: AdminDeps): void {
  const { drain } = deps;
  /** Runs `handler` only for an authenticated caller. */
  const admin =
    (action: string, handler: (req: IncomingMessage, res: ServerResponse) => unknown) =>
    async (req: IncomingMessage, res: ServerResponse) =>
      deps.guard(req, res, action) ? handler(req, res) : undefined;

  router.on(
    'GET',
    '/admin/drain/status',
    admin('status', (_req, res) => sendJson(res, 200, drain.status())),
  );
  router.on(
    'POST',
    '/admin/drain/start',
    admin('start', async (req, res) => {
      const body = parseDrainStart((await readBody(req, 4096)).toString('utf8'), deps.defaultMaxAgeSeconds);
      if (drain.state !== 'serving') {
        return sendError(
          res,
          Errors.DRAIN_IN_PROGRESS,
          `the instance is already ${drain.state}; cancel it first`,
        );
      }
      sendJson(res, 202, drain.start(body.reason, body.max_session_age_seconds));
    }),
  );
  router.on(
    'POST',
    '/admin/drain/complete',
    admin('complete', async (req, res) => {
      await readBody(req, 4096);
      // Completing closes every device: only as the end of a drain someone started on purpose.
      if (drain.state === 'serving') return sendError(res, Errors.DRAIN_NOT_STARTED);
      sendJson(res, 200, await drain.complete());
    }),
  );
  router.on(
    'POST',
    '/admin/drain/cancel',
    admin('cancel', async (req, res) => {
      await readBody(req, 4096);
      sendJson(res, 200, drain.cancel());
    }),
  );
}
