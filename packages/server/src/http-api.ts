/**
 * The gateway's HTTP surface: a small method+path router, JSON answers, and errors as registry codes
 * (`{"error":{"code","message"}}` with the code's HTTP status). Route groups (health and metrics here,
 * admin and push elsewhere) register themselves; nothing here knows about sessions.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorSpec, Errors, isZerodropError } from '@zerodrop/protocol';
import type { Logger } from './logger.js';

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string>,
) => unknown;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly keys: readonly string[];
  readonly handler: RouteHandler;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  error: ErrorSpec,
  message?: string,
  headers: Record<string, string> = {},
): void {
  sendJson(
    res,
    error.httpStatus ?? 500,
    { error: { code: error.code, message: message ?? error.message } },
    headers,
  );
}

/** Read a request body up to `limit` bytes; rejects with `body_too_large` (the rest is drained, not read). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => Object.assign(new Error('body too large'), { spec: Errors.BODY_TOO_LARGE });
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > limit) {
        refused = true;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export class HttpRouter {
  readonly #routes: Route[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Register `handler` for `method` on `path`; `:name` segments become params. */
  on(method: string, path: string, handler: RouteHandler): void {
    const keys: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_, k: string) => {
      keys.push(k);
      return '([^/]+)';
    });
    this.#routes.push({ method, pattern: new RegExp(`^${source}$`), keys, handler });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const matching = this.#routes
      .map((r) => ({ r, m: r.pattern.exec(path) }))
      .filter((x): x is { r: Route; m: RegExpExecArray } => x.m !== null);
    if (matching.length === 0) return sendError(res, Errors.NOT_FOUND, `no route for ${path.slice(0, 200)}`);
    const hit = matching.find(
      (x) => x.r.method === req.method || (req.method === 'HEAD' && x.r.method === 'GET'),
    );
    if (!hit) {
      const allow = [...new Set(matching.map((x) => x.r.method))].join(', ');
      return sendError(res, Errors.METHOD_NOT_ALLOWED, undefined, { allow });
    }
    const params: Record<string, string> = {};
    hit.r.keys.forEach((k, i) => {
      params[k] = decodeURIComponent(hit.m[i + 1]!);
    });
    try {
      await hit.r.handler(req, res, params);
    } catch (err) {
      const spec = (err as { spec?: ErrorSpec }).spec;
      if (spec) return sendError(res, spec);
      if (isZerodropError(err) && err.httpStatus) {
        return sendJson(res, err.httpStatus, { error: { code: err.code, message: err.message } });
      }
      this.#log.error({ event: 'http_handler_failed', path, error: (err as Error).message });
      if (!res.headersSent) sendError(res, Errors.INTERNAL);
    }
  }
}
