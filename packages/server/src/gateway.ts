/**
 * The gateway: one HTTP server that serves health and metrics, admits WebSocket upgrades on the device
 * path (capacity, drain), and runs the handshake and sessions. `createGateway` wires the parts; each
 * part lives in its own module. Lifecycle: `listen()`, then `close()` (devices are told to reconnect,
 * store writes settle, the store closes).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  CloseCode,
  createError,
  type ErrorSpec,
  Errors,
  isZerodropError,
  type Payload,
  toPayload,
} from '@zerodrop/protocol';
import { WebSocketServer } from 'ws';
import { registerAdminRoutes } from './admin-api.js';
import { Admission, parseList } from './admission.js';
import type { DeadLetter, GatewayApp } from './app.js';
import { type Authenticator, createHmacAuthenticator } from './auth.js';
import { createBearerGuard } from './bearer-guard.js';
import type { GatewayConfig } from './config.js';
import { DeviceConnection } from './connection.js';
import { DrainController } from './drain.js';
import { handshake } from './handshake.js';
import { HttpRouter, sendJson } from './http-api.js';
import { createLogger, type Logger } from './logger.js';
import {
  createGatewayMetrics,
  type GatewayMetrics,
  setDrainState,
  type UpgradeRejectReason,
  wsMetricsJson,
} from './metrics.js';
import { registerPushRoutes } from './push-api.js';
import { SessionRegistry } from './registry.js';
import { createRedisRelay, type SessionRelay } from './relay.js';
import { payloadToData, type Session, type SessionContext } from './session.js';
import { createStoreFromConfig } from './store/index.js';
import type { ResumeStore } from './store/resume-store.js';

export interface GatewayOptions {
  config: GatewayConfig;
  /** Defaults to the embedded memory store. */
  store?: ResumeStore;
  app?: GatewayApp;
  logger?: Logger;
  /** Replaces the HMAC device tokens (ZERODROP_DEVICE_SECRETS) with another scheme, e.g. JWT. */
  authenticate?: Authenticator;
}

export interface ListenInfo {
  port: number;
  /** Base URL of the HTTP API. */
  url: string;
  /** URL devices connect to. */
  wsUrl: string;
}

/** Retry-After (seconds) sent with a 503 at capacity. */
const RETRY_AFTER_S = 5;
/** The connection sweep goes round in steps about this far apart, each visiting its share. */
const SWEEP_STEP_MS = 20;

export type Gateway = ReturnType<typeof createGateway>;

export function createGateway(options: GatewayOptions) {
  const { config } = options;
  const log = options.logger ?? createLogger({ level: config.logLevel, instance: config.instanceId });
  const store = options.store ?? createStoreFromConfig(config);
  let relay: SessionRelay | undefined;
  const app = options.app ?? {};
  const registry = new SessionRegistry();
  const connections = new Set<DeviceConnection>();
  const metrics: GatewayMetrics = createGatewayMetrics({
    connections: () => connections.size,
    sessions: () => registry.size,
    storeUp: () => (store.metrics().status === 'ready' ? 1 : 0),
    storePendingWrites: () => store.metrics().pending_writes,
  });
  const startedAt = Date.now();
  let state: 'created' | 'running' | 'closing' | 'closed' = 'created';

  const deadLetter = (letter: DeadLetter): void => {
    metrics.ws_dead_letters_total.inc();
    const hook = app.onDeadLetter ?? logDeadLetter;
    Promise.resolve()
      .then(() => hook(letter))
      .catch((err: Error) => log.error({ event: 'dead_letter_hook_failed', error: err.message }));
  };
  const logDeadLetter = (letter: DeadLetter): void => {
    const data = letter.binary
      ? Buffer.from(letter.data as Uint8Array).toString('base64')
      : JSON.stringify(letter.data);
    log.warn({ event: 'dead_letter', ...letter, data, encoding: letter.binary ? 'base64' : 'json' });
  };

  const sessionContext: SessionContext = {
    store,
    metrics,
    log,
    app,
    maxUnacked: config.maxUnacked,
    deadLetter,
    onRetired: (s: Session) => registry.forget(s),
  };

  const connectionHost = {
    metrics,
    log,
    heartbeatMs: config.heartbeatMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    maxMessageRate: config.maxMessageRate,
    handshake: (conn: DeviceConnection, hello: Parameters<typeof handshake>[2]) =>
      handshake(
        {
          store,
          registry,
          metrics,
          log,
          app,
          sessionContext,
          instanceId: config.instanceId,
          relay,
          recordAffinity: (deviceId: string) =>
            void store
              .recordAffinity(deviceId, config.instanceId, config.affinityPrefix, config.affinityTtlMs)
              .catch((err: Error) =>
                log.warn({ event: 'store_write_failed', op: 'affinity', error: err.message }),
              ),
          heartbeatMs: config.heartbeatMs,
          maxUnacked: config.maxUnacked,
          maxFrameBytes: config.maxFrameBytes,
        },
        conn,
        hello,
      ),
    onClosed: (conn: DeviceConnection) => {
      if (connections.delete(conn)) admission.release(conn.remoteAddress);
    },
    onHandshakeStarted: (conn: DeviceConnection) => {
      pendingHandshakes--;
      if (conn.authenticatedDevice !== undefined && pendingByDevice.get(conn.authenticatedDevice) === conn) {
        pendingByDevice.delete(conn.authenticatedDevice);
      }
    },
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });

  const drain = new DrainController(
    {
      connectionCount: () => connections.size,
      storeShared: store.shared,
      hint(count, reason, delayMs) {
        let asked = 0;
        for (const conn of connections) {
          if (asked >= count) break;
          if (conn.state !== 'open' || conn.hinted) continue;
          conn.hinted = true;
          conn.requestReconnect(reason, delayMs());
          asked++;
        }
        return asked;
      },
      async closeRemaining() {
        // Every accepted message is in the store before its device is sent elsewhere.
        await Promise.all([...registry.values()].map((s) => s.settled()));
        for (const conn of [...connections]) conn.close(Errors.DRAIN_CLOSE);
      },
    },
    {
      batches: 10,
      spreadShare: 0.5,
      maxSpreadMs: config.drainSpreadMs,
      onChange: (event, status) => {
        setDrainState(metrics, status.state);
        log.info({ event, reason: status.reason, state: status.state, remaining: status.sessions_remaining });
      },
    },
  );

  // Every accepted upgrade names this instance, as a cookie (browsers send it back) and a header
  // (devices that cannot keep cookies send it back as X-Affinity-Key); nginx routes on either.
  const affinityCookie = `${config.affinityCookie}=${config.instanceId}; Max-Age=${Math.round(config.affinityTtlMs / 1000)}; Path=/; HttpOnly; SameSite=Lax`;
  wss.on('headers', (headers) => {
    headers.push(`Set-Cookie: ${affinityCookie}`, `X-Affinity-Key: ${config.instanceId}`);
  });

  const router = new HttpRouter(log);
  const health = () => {
    const storeMetrics = store.metrics();
    return {
      status: storeMetrics.status === 'ready' ? 'ok' : 'degraded',
      instance: config.instanceId,
      state,
      drain: drain.state,
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      ws_active: connections.size,
      store: { kind: store.kind, status: storeMetrics.status, shared: store.shared },
    };
  };
  router.on('GET', '/health', (_req, res) => sendJson(res, 200, health()));
  // Readiness: nginx and Kubernetes stop routing new devices here as soon as a drain starts.
  router.on('GET', '/health/ready', (_req, res) => {
    const ready = state === 'running' && drain.accepting;
    sendJson(res, ready ? 200 : 503, { ready, state: drain.state, instance: config.instanceId });
  });
  registerAdminRoutes(router, {
    guard: createBearerGuard({
      api: 'admin',
      token: config.adminToken,
      notConfigured: Errors.ADMIN_NOT_CONFIGURED,
      limit: config.adminAuthLimit,
      metrics,
      log,
      clientAddress: (req) => admission.clientIp(req),
    }),
    drain,
    defaultMaxAgeSeconds: Math.round(config.drainGraceMs / 1000),
  });
  router.on('GET', '/api/v1/esp32/metrics', (_req, res) =>
    sendJson(res, 200, {
      instance: config.instanceId,
      timestamp: new Date().toISOString(),
      ws_metrics: wsMetricsJson(metrics),
      resume_store_metrics: store.metrics(),
    }),
  );
  registerPushRoutes(router, {
    guard: createBearerGuard({
      api: 'push',
      token: config.serviceToken,
      notConfigured: Errors.PUSH_NOT_CONFIGURED,
      limit: config.adminAuthLimit,
      metrics,
      log,
      clientAddress: (req) => admission.clientIp(req),
    }),
    maxBodyBytes: config.maxFrameBytes,
    send: (deviceId, value) => send(deviceId, value),
  });
  router.on('GET', '/metrics', (_req, res) => {
    const body = metrics.registry.render();
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(body);
  });
  router.on('GET', config.wsPath, (_req, res) =>
    sendJson(res, 426, {
      error: { code: Errors.UPGRADE_REQUIRED.code, message: Errors.UPGRADE_REQUIRED.message },
    }),
  );

  // Node checks request timeouts every connectionsCheckingInterval (30 s by default): check every
  // second, so a client that never finishes its HTTP request is cut close to the handshake timeout.
  const server: Server = createServer(
    { connectionsCheckingInterval: 1000 },
    (req, res) => void router.handle(req, res),
  );
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void admit(req, socket, head));
  server.on('clientError', (_err, socket) => socket.destroy());
  // A client that never finishes its HTTP request (slowloris) is cut once the handshake timeout passed.
  server.headersTimeout = Math.min(60_000, config.handshakeTimeoutMs);
  server.requestTimeout = Math.max(server.headersTimeout, 30_000);

  function refuseUpgrade(
    socket: Socket,
    reason: UpgradeRejectReason,
    error: ErrorSpec,
    extra: Record<string, string> = {},
    authReason?: string,
  ) {
    metrics.ws_upgrades_rejected_total.inc(1, { reason });
    const detail = authReason ? { reason: authReason } : {};
    const body = JSON.stringify({ error: { code: error.code, message: error.message, ...detail } });
    const status = error.httpStatus ?? 400;
    const headers = Object.entries({
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      Connection: 'close',
      ...extra,
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\n${headers}\r\n${body}`);
  }

  const admission = new Admission(
    {
      wsPath: config.wsPath,
      maxConnections: config.maxConnections,
      maxPendingHandshakes: config.maxPendingHandshakes,
      maxConnectionsPerIp: config.maxConnectionsPerIp,
      trustedProxies: parseList(config.trustedProxies),
      allowedOrigins: parseList(config.allowedOrigins),
    },
    {
      accepting: () => state === 'running' && drain.accepting,
      draining: () => state === 'running' && !drain.accepting,
      connections: () => connections.size,
      pendingHandshakes: () => pendingHandshakes,
    },
    options.authenticate ??
      (config.deviceSecrets
        ? createHmacAuthenticator({ secrets: parseList(config.deviceSecrets), skewMs: config.authSkewMs })
        : undefined),
  );
  let pendingHandshakes = 0;
  const pendingByDevice = new Map<string, DeviceConnection>();

  async function admit(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', destroySocket);
    const decision = await admission.admit(req);
    if (!decision.ok) {
      if (decision.reason === 'draining' && state === 'running') {
        metrics.ws_upgrades_blocked_during_drain.inc();
        drain.countBlocked();
      }
      if (decision.authReason) {
        metrics.ws_auth_failures_total.inc(1, { reason: decision.authReason });
        log.info({
          event: 'device_auth_failed',
          reason: decision.authReason,
          remote: admission.clientIp(req),
        });
      }
      const extra: Record<string, string> = decision.retryAfter
        ? { 'Retry-After': String(RETRY_AFTER_S) }
        : {};
      refuseUpgrade(socket, decision.reason, decision.error, extra, decision.authReason);
      return;
    }
    const { ip, deviceId } = decision;
    let settled = false;
    const settle = (becameConnection: boolean) => {
      if (settled) return;
      settled = true;
      admission.settle(ip, becameConnection);
    };
    // ws answers a broken upgrade itself without calling back: the slot is freed when the socket goes.
    const onSocketClose = () => settle(false);
    socket.once('close', onSocketClose);
    if (socket.destroyed || state !== 'running') {
      settle(false);
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      settle(true);
      // The upgrade is done and `ws` watches the socket now: neither listener (nor the scope of this
      // upgrade that they hold) has to live as long as the connection, at 15,000 of them.
      socket.off('close', onSocketClose);
      socket.off('error', destroySocket);
      if (state !== 'running') {
        admission.release(ip);
        ws.close(CloseCode.SHUTTING_DOWN, 'shutting_down');
        return;
      }
      metrics.ws_connections_total.inc();
      pendingHandshakes++;
      const conn = new DeviceConnection(ws, socket, connectionHost, ip, deviceId);
      connections.add(conn);
      if (deviceId !== undefined) {
        // One token cannot hold many handshake slots: a device has at most one connection waiting
        // for its hello, the newest (a real device never has two).
        pendingByDevice.get(deviceId)?.close(Errors.SESSION_REPLACED);
        pendingByDevice.set(deviceId, conn);
      }
    });
  }

  // One sweep drives every connection's deadlines and pings, instead of a timer per connection. It
  // visits every connection once per `sweepEvery`, a slice every SWEEP_STEP_MS, because a ping is one
  // socket write (20–40 µs on loopback): 15,000 connections pinged every 5 s, all visited in one pass a
  // second, stalled the loop for 100–240 ms each second (npm run bench -- --suites capacity); in 50
  // slices, with the first pings spread (connection.ts), it is a few milliseconds every 20 ms.
  const sweepEvery = Math.max(
    5,
    Math.min(1000, Math.floor(config.heartbeatMs / 4), Math.floor(config.handshakeTimeoutMs / 4)),
  );
  const sweepSlices = Math.max(1, Math.floor(sweepEvery / SWEEP_STEP_MS));
  let sweepCursor: Iterator<DeviceConnection> = connections.values();
  let sweepTimer: NodeJS.Timeout | undefined;
  let expiryTimer: NodeJS.Timeout | undefined;
  let touchTimer: NodeJS.Timeout | undefined;

  /** One slice of the sweep: the next share of the connections, in the Set's order, round and round. */
  function sweep(): void {
    const now = performance.now();
    for (let left = Math.ceil(connections.size / sweepSlices); left > 0; left--) {
      let next = sweepCursor.next();
      if (next.done) {
        sweepCursor = connections.values();
        next = sweepCursor.next();
        if (next.done) return;
      }
      next.value.tick(now);
    }
  }

  async function expireSessions(): Promise<void> {
    let expired: Awaited<ReturnType<ResumeStore['expire']>>;
    try {
      expired = await store.expire(Date.now());
    } catch (err) {
      log.error({ event: 'store_read_failed', op: 'expire', error: (err as Error).message });
      return;
    }
    const now = Date.now();
    for (const s of registry.values()) {
      // A copy held past the TTL without a connection is stale; the store expires (and counts) it.
      if (!s.attached && !s.ended && now - s.lastActivity > config.resumeTtlMs) s.end(Errors.SESSION_MOVED);
    }
    for (const s of expired) {
      const held = registry.get(s.deviceId);
      if (held?.id === s.sessionId) held.end(Errors.SESSION_MOVED);
      metrics.ws_sessions_expired_total.inc();
      if (s.undelivered.length === 0) continue;
      metrics.dropped_messages.inc(s.undelivered.length);
      log.warn({
        event: 'session_expired_with_messages',
        device: s.deviceId,
        session: s.sessionId,
        count: s.undelivered.length,
      });
      for (const m of s.undelivered) {
        deadLetter({
          deviceId: s.deviceId,
          sessionId: s.sessionId,
          direction: 'server_to_device',
          seq: m.seq,
          reason: 'expired',
          ...payloadToData(m.payload),
        });
      }
    }
  }

  function touchLiveSessions(): void {
    const ids: string[] = [];
    for (const s of registry.values()) if (s.attached) ids.push(s.id);
    if (ids.length === 0) return;
    store
      .touch(ids)
      .catch((err: Error) => log.error({ event: 'store_write_failed', op: 'touch', error: err.message }));
  }

  /**
   * Accept a message for a device. Resolves with its sequence number once it is in the resume store;
   * rejects with `buffer_full` (the session holds `maxUnacked` unacknowledged messages),
   * `unknown_device` (the device has no session) or `store_unavailable`. Works from any instance: a
   * session held live by another instance gets the message through the relay, so one instance alone
   * numbers a session's messages.
   */
  function send(deviceId: string, value: unknown): Promise<number> {
    return accept(deviceId, toPayload(value), true);
  }

  /** `mayForward` is false for a send another instance forwarded here: it is never bounced on. */
  async function accept(deviceId: string, payload: Payload, mayForward: boolean): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const retry = attempt < 3;
      for (let busy = registry.busy(deviceId); busy; busy = registry.busy(deviceId)) await busy;
      const live = registry.get(deviceId);
      if (live && !live.ended) {
        try {
          return await live.send(payload);
        } catch (err) {
          if (retry && isZerodropError(err, Errors.SESSION_MOVED)) continue;
          throw err;
        }
      }
      const sessionId = await store.sessionOfDevice(deviceId);
      if (!sessionId) throw createError(Errors.UNKNOWN_DEVICE, undefined, { deviceId });
      let outcome = await store.appendNext(sessionId, payload, config.maxUnacked);
      if (!outcome.ok && outcome.reason === 'owned') {
        const owner = outcome.owner;
        if (owner !== config.instanceId && (await store.isInstanceAlive(owner))) {
          if (!mayForward || !relay) throw createError(Errors.SESSION_MOVED, undefined, { deviceId });
          let forwarded: number | 'unreachable';
          try {
            forwarded = await relay.forwardSend(owner, deviceId, payload);
          } catch (err) {
            if (retry && isZerodropError(err, Errors.SESSION_MOVED)) continue;
            throw err;
          }
          if (forwarded !== 'unreachable') return forwarded;
        }
        if (owner === config.instanceId && (registry.get(deviceId) || registry.busy(deviceId))) {
          // A handshake here made the session live meanwhile: it numbers the message, not the store.
          if (retry) continue;
          throw createError(Errors.SESSION_MOVED, undefined, { deviceId });
        }
        // The owner is gone, or it is this instance without a live copy: the store numbers the message.
        // (Checked and issued in one turn, so a handshake starting now reads it when it claims.)
        outcome = await store.appendNext(sessionId, payload, config.maxUnacked, owner);
      }
      if (outcome.ok) return outcome.seq;
      if (outcome.reason === 'owned' && retry) continue;
      if (outcome.reason === 'buffer_full') {
        metrics.ws_buffer_full_total.inc();
        throw createError(Errors.BUFFER_FULL, undefined, { deviceId, maxUnacked: config.maxUnacked });
      }
      throw createError(Errors.UNKNOWN_DEVICE, undefined, { deviceId });
    }
  }

  /** Another instance takes a session over: drop our copy, close a stale connection, settle. */
  async function onRelease(deviceId: string, sessionId: string): Promise<void> {
    const live = registry.get(deviceId);
    if (!live || live.id !== sessionId) return;
    if (!live.ended) log.info({ event: 'session_released', device: deviceId, session: sessionId });
    live.end(Errors.SESSION_MOVED);
    await live.quiesced();
  }

  /** The store lost its data: write back every session this instance holds, whole. */
  async function writeBack(): Promise<void> {
    const sessions = [...registry.values()].filter((s) => !s.ended);
    log.warn({ event: 'store_reset', sessions: sessions.length });
    let restored = 0;
    await Promise.all(
      sessions.map(async (s) => {
        try {
          if (await store.restoreSession(s.snapshot(config.instanceId))) restored++;
          else s.end(Errors.SESSION_MOVED);
        } catch (err) {
          log.error({
            event: 'store_write_failed',
            op: 'restore',
            session: s.id,
            error: (err as Error).message,
          });
        }
      }),
    );
    metrics.resume_store_writebacks_total.inc(restored);
    log.warn({ event: 'store_reset_written_back', sessions: restored });
  }

  async function listen(): Promise<ListenInfo> {
    if (state !== 'created') throw new Error(`gateway cannot listen in state ${state}`);
    await store.open();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    store.onReset(writeBack);
    if (config.redisUrl && store.shared) {
      relay = await createRedisRelay({
        url: config.redisUrl,
        prefix: config.redisKeyPrefix,
        instanceId: config.instanceId,
        log,
        handlers: { onSend: (deviceId, payload) => accept(deviceId, payload, false), onRelease },
      });
    }
    state = 'running';
    sweepTimer = setInterval(sweep, sweepEvery / sweepSlices);
    expiryTimer = setInterval(() => void expireSessions(), config.expirySweepMs);
    touchTimer = setInterval(touchLiveSessions, Math.max(1000, Math.floor(config.resumeTtlMs / 3)));
    const info = address();
    log.info({ event: 'gateway_listening', url: info.url, ws_url: info.wsUrl, store: store.kind });
    return info;
  }

  function address(): ListenInfo {
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address === '0.0.0.0' ? '127.0.0.1' : a.address;
    return { port: a.port, url: `http://${host}:${a.port}`, wsUrl: `ws://${host}:${a.port}${config.wsPath}` };
  }

  /** Tell every device to reconnect elsewhere, let store writes settle, close the store. */
  async function close(): Promise<void> {
    if (state === 'closing' || state === 'closed') return;
    state = 'closing';
    clearInterval(sweepTimer);
    clearInterval(expiryTimer);
    clearInterval(touchTimer);
    drain.dispose();
    for (const conn of [...connections]) conn.close(Errors.SHUTTING_DOWN);
    await Promise.all([...registry.values()].map((s) => s.settled()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    wss.close();
    await relay?.close();
    await store.close();
    metrics.stopLoopMonitor();
    state = 'closed';
    log.info({ event: 'gateway_closed' });
  }

  /**
   * What SIGTERM does: drain for up to `graceMs` (devices move to other instances), then close.
   * Resolves once closed.
   */
  async function drainAndClose(reason: string, graceMs = config.drainGraceMs): Promise<void> {
    if (state !== 'running') return close();
    if (drain.state === 'serving') drain.start(reason, Math.round(graceMs / 1000));
    await drain.whenDrained();
    await close();
  }

  return {
    config,
    metrics,
    drain,
    drainAndClose,
    store,
    registry,
    log,
    router,
    listen,
    close,
    send,
    address,
    health,
    get state() {
      return state;
    },
    connections: () => connections.size,
  };
}

/** A socket error before `ws` took the socket over: nothing can be answered, drop it. */
function destroySocket(this: Socket): void {
  this.destroy();
}

function statusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      426: 'Upgrade Required',
      429: 'Too Many Requests',
      503: 'Service Unavailable',
    }[status] ?? 'Error'
  );
}
