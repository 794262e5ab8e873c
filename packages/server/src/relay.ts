/**
 * The relay between instances that share a Redis store. Each instance subscribes to its own channel;
 * through it, another instance (a) forwards `send(deviceId, …)` to the instance that holds the device's
 * session, so exactly one instance assigns that session's sequence numbers, and (b) asks the holder to
 * release a session it is taking over: the holder closes a stale connection and finishes what it has
 * in flight, so the new holder reads the final state. Pub/sub is fire-and-forget: a forwarded send
 * that gets no answer fails with a typed error and is not accepted; a release nobody answers times out
 * and the store's ownership check catches a holder that missed it.
 */
import { createError, Errors, type Payload } from '@zerodrop/protocol';
import { Redis } from 'ioredis';
import { randomId } from './ids.js';
import type { Logger } from './logger.js';

export interface SessionRelay {
  /**
   * Ask `owner` to accept a message for the device; resolves with its seq, or `unreachable` when no
   * instance of that name listens (it died: the caller may number the message in the store instead).
   */
  forwardSend(owner: string, deviceId: string, payload: Payload): Promise<number | 'unreachable'>;
  /**
   * Ask `owner` to let go of a session this instance is taking over: it closes a stale connection,
   * finishes what it has in flight for the session, and answers. Resolves when it did, when no such
   * instance listens, or after the timeout (a hung owner does not block the device).
   */
  release(owner: string, deviceId: string, sessionId: string): Promise<void>;
  close(): Promise<void>;
}

export interface RelayHandlers {
  /** A send forwarded here: accept it locally (never forward it again). */
  onSend(deviceId: string, payload: Payload): Promise<number>;
  /** Another instance takes the session over: stop using it, settle, then resolve. */
  onRelease(deviceId: string, sessionId: string): Promise<void>;
}

type WirePayload = { kind: 'json'; json: string } | { kind: 'binary'; b64: string };
type RelayMessage =
  | { t: 'send'; id: string; from: string; device: string; payload: WirePayload }
  | { t: 'result'; id: string; ok: true; seq: number }
  | { t: 'result'; id: string; ok: false; code: string; message: string }
  | { t: 'release'; id: string; from: string; device: string; session: string }
  | { t: 'released'; id: string };

const toWire = (p: Payload): WirePayload =>
  p.kind === 'json' ? p : { kind: 'binary', b64: Buffer.from(p.bytes).toString('base64') };
const fromWire = (p: WirePayload): Payload =>
  p.kind === 'json' ? p : { kind: 'binary', bytes: new Uint8Array(Buffer.from(p.b64, 'base64')) };

export async function createRedisRelay(options: {
  url: string;
  prefix: string;
  instanceId: string;
  log: Logger;
  handlers: RelayHandlers;
  timeoutMs?: number;
}): Promise<SessionRelay> {
  const { prefix, instanceId, log, handlers } = options;
  const timeoutMs = options.timeoutMs ?? 3000;
  const channel = (id: string) => `${prefix}relay:${id}`;
  const redisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: 'zerodrop-relay',
  };
  const pub = new Redis(options.url, redisOptions);
  const sub = new Redis(options.url, redisOptions);
  for (const c of [pub, sub])
    c.on('error', (err: Error) => log.debug({ event: 'relay_error', error: err.message }));
  const waiting = new Map<
    string,
    { resolve: (seq: number) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();

  const publish = (to: string, m: RelayMessage) => pub.publish(channel(to), JSON.stringify(m));
  const releases = new Map<string, () => void>();

  sub.on('message', (_ch: string, text: string) => {
    let m: RelayMessage;
    try {
      m = JSON.parse(text) as RelayMessage;
    } catch {
      log.warn({ event: 'relay_malformed' });
      return;
    }
    if (m.t === 'release') {
      handlers
        .onRelease(m.device, m.session)
        .catch((err: Error) => log.warn({ event: 'relay_release_failed', error: err.message }))
        .finally(() => void publish(m.from, { t: 'released', id: m.id }).catch(() => 0));
    } else if (m.t === 'released') {
      releases.get(m.id)?.();
    } else if (m.t === 'send') {
      handlers
        .onSend(m.device, fromWire(m.payload))
        .then(
          (seq) => publish(m.from, { t: 'result', id: m.id, ok: true, seq }),
          (err: { code?: string; message: string }) =>
            publish(m.from, {
              t: 'result',
              id: m.id,
              ok: false,
              code: err.code ?? 'internal',
              message: err.message,
            }),
        )
        .catch((err: Error) => log.warn({ event: 'relay_reply_failed', error: err.message }));
    } else if (m.t === 'result') {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.ok) w.resolve(m.seq);
      else w.reject(Object.assign(createError(Errors.STORE_UNAVAILABLE, m.message), { code: m.code }));
    }
  });
  await Promise.all([pub.connect(), sub.connect()]);
  await sub.subscribe(channel(instanceId));

  return {
    forwardSend(owner, deviceId, payload) {
      const id = randomId(9);
      return new Promise<number | 'unreachable'>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(createError(Errors.STORE_UNAVAILABLE, `instance ${owner} did not answer a forwarded send`));
        }, timeoutMs);
        waiting.set(id, { resolve, reject, timer });
        publish(owner, { t: 'send', id, from: instanceId, device: deviceId, payload: toWire(payload) }).then(
          (receivers) => {
            if (receivers > 0) return;
            waiting.delete(id);
            clearTimeout(timer);
            resolve('unreachable');
          },
          (err: Error) => {
            waiting.delete(id);
            clearTimeout(timer);
            reject(createError(Errors.STORE_UNAVAILABLE, `relay unavailable: ${err.message}`));
          },
        );
      });
    },
    release(owner, deviceId, sessionId) {
      const id = randomId(9);
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          releases.delete(id);
          resolve();
        };
        const timer = setTimeout(() => {
          log.warn({ event: 'relay_release_timeout', owner, device: deviceId });
          done();
        }, timeoutMs);
        releases.set(id, done);
        publish(owner, { t: 'release', id, from: instanceId, device: deviceId, session: sessionId }).then(
          (receivers) => {
            if (receivers === 0) done();
          },
          () => done(),
        );
      });
    },
    async close() {
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(createError(Errors.STORE_UNAVAILABLE, 'relay closed'));
      }
      waiting.clear();
      await Promise.all([sub.quit().catch(() => sub.disconnect()), pub.quit().catch(() => pub.disconnect())]);
    },
  };
}
