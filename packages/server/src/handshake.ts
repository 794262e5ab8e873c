/**
 * The handshake: turn a device's `hello` into a session attached to its connection, with an explicit
 * outcome. A resume either succeeds (`resumed`, with what will be replayed) or yields a fresh session
 * and one reason from the protocol's list, counted in `resume_failures`. A fresh session carries over
 * the messages the device's previous session still held, renumbered, so nothing accepted is lost when
 * a device lost its state (a reboot) or the gateway refused its resume.
 */
import {
  Errors,
  type HelloFrame,
  PROTOCOL_VERSION,
  type ResumeFailureReason,
  type WelcomeFrame,
} from '@zerodrop/protocol';
import type { GatewayApp } from './app.js';
import type { DeviceConnection } from './connection.js';
import { generationOfEpoch, hashToken, matchToken, newEpoch, newResumeToken, newSessionId } from './ids.js';
import type { Logger } from './logger.js';
import { countResumeFailure, type GatewayMetrics } from './metrics.js';
import type { SessionRegistry } from './registry.js';
import type { SessionRelay } from './relay.js';
import { Session, type SessionContext } from './session.js';
import type { ResumeStore, SessionRecord, StoredMessage } from './store/resume-store.js';

export interface HandshakeDeps {
  readonly store: ResumeStore;
  readonly registry: SessionRegistry;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  readonly app: GatewayApp;
  readonly sessionContext: SessionContext;
  readonly instanceId: string;
  readonly relay: SessionRelay | undefined;
  /** Note that the device is now on this instance (sticky:affinity:<device>). */
  recordAffinity(deviceId: string): void;
  readonly heartbeatMs: number;
  readonly maxUnacked: number;
  readonly maxFrameBytes: number;
}

type Resolution = { session: Session } | { reason: ResumeFailureReason };

export async function handshake(
  deps: HandshakeDeps,
  conn: DeviceConnection,
  hello: HelloFrame,
): Promise<void> {
  if (hello.v !== PROTOCOL_VERSION) {
    conn.protocolError(
      Errors.UNSUPPORTED_VERSION,
      `device speaks v${hello.v}, gateway speaks v${PROTOCOL_VERSION}`,
    );
    return;
  }
  await deps.registry.withDeviceLock(hello.device, async () => {
    if (conn.closed) return;
    const current = deps.registry.get(hello.device);
    const previous = current && !current.ended ? current : undefined;
    let resolution: Resolution | undefined;
    if (hello.resume) {
      deps.metrics.ws_reconnects.inc();
      resolution = await resolveResume(deps, hello, previous);
    }
    const token = newResumeToken();
    let session = resolution && 'session' in resolution ? resolution.session : undefined;
    let reason = resolution && 'reason' in resolution ? resolution.reason : undefined;
    if (session) {
      // The token the device resumed with stays valid until it shows it got this welcome's token.
      const accepted = `${hashToken(token)} ${hashToken(hello.resume!.token)}`;
      await deps.store.rotateToken(session.id, session.epoch, accepted);
      session.tokenHash = accepted;
      if (!session.attach(conn, hello.resume!.ack)) {
        session = undefined;
        reason = 'epoch_mismatch';
      }
    }
    if (!session) {
      session = await createFresh(deps, hello.device, previous?.ended ? undefined : previous, token);
      session.attach(conn, 0);
    }
    if (previous && previous !== session) previous.end(Errors.SESSION_REPLACED);
    if (conn.closed) {
      session.detach(conn);
      return;
    }
    deps.registry.set(session);
    conn.opened(session);

    const outcome = reason === undefined && hello.resume ? 'resumed' : 'fresh';
    if (outcome === 'resumed') deps.metrics.ws_resumes.inc();
    if (reason) {
      countResumeFailure(deps.metrics, reason);
      deps.log.info({ event: 'resume_failed', device: hello.device, session: hello.resume?.session, reason });
    }
    conn.send(welcome(deps, session, token, outcome, reason));
    deps.recordAffinity(hello.device);
    session.flush();
    deps.log.debug({ event: 'session_open', device: hello.device, session: session.id, outcome });
    deps.app.onSession?.({ deviceId: hello.device, sessionId: session.id, outcome });
  });
}

function welcome(
  deps: HandshakeDeps,
  session: Session,
  token: string,
  outcome: 'resumed' | 'fresh',
  reason: ResumeFailureReason | undefined,
): WelcomeFrame {
  const frame: WelcomeFrame = {
    t: 'welcome',
    v: PROTOCOL_VERSION,
    session: session.id,
    epoch: session.epoch,
    token,
    outcome,
    ack: session.receiver.processed,
    replay: session.replayCount,
    replay_from: session.sender.acked + 1,
    heartbeat_ms: deps.heartbeatMs,
    limits: { max_unacked: deps.maxUnacked, max_frame_bytes: deps.maxFrameBytes },
    instance: deps.instanceId,
  };
  if (reason) frame.reason = reason;
  return frame;
}

async function resolveResume(
  deps: HandshakeDeps,
  hello: HelloFrame,
  live: Session | undefined,
): Promise<Resolution> {
  const req = hello.resume!;
  const { store } = deps;
  try {
    if (live && live.id === req.session) {
      if (live.epoch !== req.epoch) return { reason: 'epoch_mismatch' };
      if (!matchToken(req.token, live.tokenHash)) return { reason: 'unauthorized' };
      if (!store.shared) return { session: live };
      // Our copy is authoritative only while we still own the session in the shared store; while the
      // store does not answer, it is the best copy there is.
      const at = Date.now();
      const claimed = await store.claimSession(req.session, at).catch(() => undefined);
      if (claimed === undefined) return { session: live };
      if (!claimed) {
        await store.restoreSession(live.snapshot(deps.instanceId));
        return { session: live };
      }
      if (claimed.owner === deps.instanceId || claimed.owner === '') return { session: live };
      // Someone else took it over since: our copy is stale. Read theirs once they let go.
      live.end(Errors.SESSION_MOVED);
      await releaseFrom(deps, claimed.owner, hello.device, claimed.sessionId);
      const fresh = await store.claimSession(req.session, at);
      if (!fresh) return { reason: 'expired' };
      const stale = judge(fresh, hello);
      if (stale) return { reason: stale };
      return {
        session: new Session({ ...fresh, owner: deps.instanceId, claimedAt: at }, deps.sessionContext),
      };
    }
    const rec = await store.getSession(req.session);
    if (!rec) {
      if (await store.wasExpired(req.session)) return { reason: 'expired' };
      // An epoch minted under another store generation proves the store lost the session.
      return {
        reason: generationOfEpoch(req.epoch) !== store.generation ? 'epoch_mismatch' : 'unknown_session',
      };
    }
    const verdict = judge(rec, hello);
    if (verdict) return { reason: verdict };
    await releaseFrom(deps, rec.owner, hello.device, rec.sessionId);
    // Validated and released: take it over, atomically with the read the session is built from.
    const at = Date.now();
    const claimed = await store.claimSession(req.session, at);
    if (!claimed) return { reason: 'expired' };
    const again = judge(claimed, hello);
    if (again) return { reason: again };
    return {
      session: new Session({ ...claimed, owner: deps.instanceId, claimedAt: at }, deps.sessionContext),
    };
  } catch (err) {
    deps.log.error({ event: 'store_read_failed', op: 'resume', error: (err as Error).message });
    return { reason: 'store_unavailable' };
  }
}

/** Why a stored session cannot be resumed by this hello, if it cannot. */
function judge(rec: SessionRecord, hello: HelloFrame): ResumeFailureReason | undefined {
  const req = hello.resume!;
  if (rec.epoch !== req.epoch) return 'epoch_mismatch';
  if (rec.deviceId !== hello.device || !matchToken(req.token, rec.tokenHash)) return 'unauthorized';
  // The device cannot hold less than it acknowledged, nor more than was sent.
  if (req.ack < rec.outAcked || req.ack > rec.outAcked + rec.outbound.length) return 'epoch_mismatch';
  return undefined;
}

/**
 * Before reading a session to take it over, let its previous holder (another live instance) finish
 * what it has in flight for it, so the read sees the last processed sequence number.
 */
async function releaseFrom(
  deps: HandshakeDeps,
  owner: string,
  deviceId: string,
  sessionId: string,
): Promise<void> {
  if (owner && owner !== deps.instanceId && deps.relay) await deps.relay.release(owner, deviceId, sessionId);
}

/** A new session for the device, holding whatever its previous session had not delivered. */
async function createFresh(
  deps: HandshakeDeps,
  deviceId: string,
  live: Session | undefined,
  token: string,
): Promise<Session> {
  const { store } = deps;
  let carried: readonly StoredMessage[] = [];
  let previousId: string | null = null;
  if (live) await live.settled();
  if (live && !store.shared) {
    carried = live.sender.unacked();
    previousId = live.id;
  } else {
    previousId = live?.id ?? (await store.sessionOfDevice(deviceId));
    // Released and claimed, so an instance that held it stops appending to it before its messages move here.
    const before = previousId ? await store.getSession(previousId) : null;
    if (before) await releaseFrom(deps, before.owner, deviceId, before.sessionId);
    const rec = previousId ? await store.claimSession(previousId, Date.now()) : null;
    carried = rec?.outbound ?? live?.sender.unacked() ?? [];
  }
  const now = Date.now();
  const record: SessionRecord = {
    sessionId: newSessionId(),
    deviceId,
    epoch: newEpoch(store.generation),
    tokenHash: hashToken(token),
    outbound: carried.map((m, i) => ({ seq: i + 1, payload: m.payload })),
    owner: deps.instanceId,
    claimedAt: now,
    outAcked: 0,
    inProcessed: 0,
    createdAt: now,
    updatedAt: now,
  };
  await store.createSession(record);
  if (previousId) await store.deleteSession(previousId);
  if (carried.length > 0) {
    deps.log.info({
      event: 'messages_carried_over',
      device: deviceId,
      from: previousId,
      to: record.sessionId,
      count: carried.length,
    });
  }
  return new Session(record, deps.sessionContext);
}
