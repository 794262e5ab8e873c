/**
 * A tiny gateway for the client's real-socket tests: a `ws` WebSocketServer on 127.0.0.1, port 0, that
 * plays the server side of the protocol for ONE device with the same ReliableSender/ReliableReceiver
 * the real gateway uses, and that sabotages its own connections on purpose — it destroys the TCP socket,
 * terminates, asks the device to move, or goes silent — at random points chosen by a seeded generator.
 * It records what its "application" received, so a test can check exactly-once, in-order delivery.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import {
  decodeFrame,
  encodeControl,
  encodeData,
  type Frame,
  type HelloFrame,
  type Payload,
  ReliableReceiver,
  ReliableSender,
  toPayload,
  type WelcomeFrame,
} from '@zerodrop/protocol';
import { type WebSocket, WebSocketServer } from 'ws';

export type Sabotage = 'destroy' | 'terminate' | 'move' | 'silence';
const SABOTAGES: readonly Sabotage[] = ['destroy', 'terminate', 'move', 'silence'];

export interface ScriptedGatewayOptions {
  random: () => number;
  heartbeatMs: number;
  maxUnacked: number;
  /** Chance, per frame received from the device, that the gateway sabotages the connection. */
  sabotageRate: number;
  maxSabotages: number;
}

interface Link {
  readonly ws: WebSocket;
  welcomed: boolean;
  dead: boolean;
  ping: ReturnType<typeof setInterval> | undefined;
}

/** A deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ScriptedGateway {
  /** What the gateway's application received from the device, in order. */
  readonly received: unknown[] = [];
  /** Anything the device did that breaks the protocol; a passing test expects none. */
  readonly violations: string[] = [];
  readonly sabotages: Record<Sabotage, number> = { destroy: 0, terminate: 0, move: 0, silence: 0 };
  readonly upgradeHeaders: Record<string, string | string[] | undefined>[] = [];
  handshakes = 0;
  resumes = 0;

  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #options: ScriptedGatewayOptions;
  readonly #sender: ReliableSender<Payload>;
  readonly #receiver = new ReliableReceiver();
  readonly #outbox: Payload[] = [];
  #link: Link | undefined;
  #session = { id: 'sess-1', epoch: 'epoch-1' };
  /** Like the real gateway, only the newest token resumes; the previous one dies with the next welcome. */
  #token: string | undefined;
  #ackTimer: ReturnType<typeof setImmediate> | undefined;
  #pings = 0;

  private constructor(http: Server, wss: WebSocketServer, options: ScriptedGatewayOptions) {
    this.#http = http;
    this.#wss = wss;
    this.#options = options;
    this.#sender = new ReliableSender<Payload>({ maxUnacked: options.maxUnacked });
    wss.on('connection', (ws, req) => {
      this.upgradeHeaders.push(req.headers);
      this.#onConnection(ws);
    });
  }

  static async start(options: ScriptedGatewayOptions, port = 0): Promise<ScriptedGateway> {
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, '127.0.0.1', resolve);
    });
    return new ScriptedGateway(http, new WebSocketServer({ server: http }), options);
  }

  get url(): string {
    const address = this.#http.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    return `ws://127.0.0.1:${address.port}/ws`;
  }

  /** Messages still held by the gateway's sender (accepted, not acked by the device). */
  get unacked(): number {
    return this.#sender.size + this.#outbox.length;
  }

  /** The gateway's application sends a message to the device. */
  push(value: unknown): void {
    this.#outbox.push(toPayload(value));
    this.#pump();
  }

  async close(): Promise<void> {
    if (this.#ackTimer !== undefined) clearImmediate(this.#ackTimer);
    if (this.#link) this.#drop(this.#link);
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    // Upgraded sockets still count as the HTTP server's connections: drop them all, or close() would wait.
    this.#http.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.#http.close((err) => (err ? reject(err) : resolve())));
  }

  #onConnection(ws: WebSocket): void {
    const link: Link = { ws, welcomed: false, dead: false, ping: undefined };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (link.dead) return;
      const decoded = decodeFrame(isBinary ? data : data.toString('utf8'), isBinary);
      if (!decoded.ok) {
        this.violations.push(`undecodable frame: ${decoded.detail}`);
        return;
      }
      this.#onFrame(link, decoded.frame);
      // Never right after a hello: a welcome lost in a cut leaves the device with a dead token, and the
      // resume is then refused (fresh, at-least-once) by design. Any later frame proves the welcome arrived.
      if (!link.dead && link.welcomed && decoded.frame.t !== 'hello') this.#maybeSabotage(link);
    });
    ws.on('close', () => {
      if (this.#link === link) this.#drop(link);
    });
  }

  #onFrame(link: Link, frame: Frame): void {
    if (frame.t === 'hello') {
      this.#onHello(link, frame);
      return;
    }
    if (!link.welcomed || this.#link !== link) {
      this.violations.push(`${frame.t} before welcome`);
      return;
    }
    switch (frame.t) {
      case 'msg':
      case 'bin':
        this.#onAck(frame.ack);
        this.#onData(link, frame.seq, frame.t === 'bin' ? Uint8Array.from(frame.data) : frame.data);
        return;
      case 'ack':
        this.#onAck(frame.ack);
        return;
      case 'ping':
        link.ws.send(encodeControl({ t: 'pong', id: frame.id }));
        return;
      case 'pong':
        return;
      default:
        this.violations.push(`unexpected ${frame.t} from the device`);
    }
  }

  #onHello(link: Link, hello: HelloFrame): void {
    if (this.#link !== undefined && this.#link !== link) this.#drop(this.#link);
    this.#link = link;
    this.handshakes++;
    const token = `tok-${this.handshakes}`;
    const resume = hello.resume;
    const canResume =
      resume !== undefined &&
      resume.session === this.#session.id &&
      resume.epoch === this.#session.epoch &&
      resume.token === this.#token;
    if (resume !== undefined && !canResume) this.violations.push(`resume refused: ${JSON.stringify(resume)}`);
    if (resume === undefined && this.handshakes > 1) this.violations.push('the device forgot its session');
    let replayFrom = 1;
    if (canResume) {
      const r = this.#sender.resume(resume.ack);
      if (!r.ok) this.violations.push(`resume ack ${resume.ack} out of range`);
      replayFrom = resume.ack + 1;
      this.resumes++;
    }
    this.#token = token;
    const welcome: WelcomeFrame = {
      t: 'welcome',
      v: 1,
      session: this.#session.id,
      epoch: this.#session.epoch,
      token,
      outcome: canResume ? 'resumed' : 'fresh',
      ack: this.#receiver.resume(),
      replay: this.#sender.lastSeq - (replayFrom - 1),
      replay_from: replayFrom,
      heartbeat_ms: this.#options.heartbeatMs,
      limits: { max_unacked: this.#options.maxUnacked, max_frame_bytes: 1 << 20 },
      instance: 'scripted',
    };
    link.ws.send(JSON.stringify(welcome));
    link.welcomed = true;
    link.ping = setInterval(() => {
      if (!link.dead)
        link.ws.send(encodeControl({ t: 'ping', id: ++this.#pings, ack: this.#receiver.takeAck() }));
    }, this.#options.heartbeatMs);
    this.#pump();
  }

  #onData(link: Link, seq: number, value: unknown): void {
    const verdict = this.#receiver.onData(seq);
    if (verdict === 'gap') {
      this.violations.push(`gap: got ${seq} after ${this.#receiver.received}`);
      link.ws.close(4002);
      this.#drop(link);
      return;
    }
    if (verdict === 'accept') {
      this.received.push(value);
      this.#receiver.complete(seq);
    }
    // Acks go out after the handler resolved, batched per turn of the event loop.
    this.#ackTimer ??= setImmediate(() => {
      this.#ackTimer = undefined;
      const current = this.#link;
      if (current?.welcomed && !current.dead)
        current.ws.send(encodeControl({ t: 'ack', ack: this.#receiver.takeAck() }));
    });
  }

  #onAck(ack: number): void {
    const r = this.#sender.onAck(ack);
    if (!r.ok) this.violations.push(`device acked ${ack}, never sent`);
    else if (r.released > 0) this.#pump();
  }

  /** Move messages from the app's outbox into the bounded sender, and write what the link can carry. */
  #pump(): void {
    while (this.#outbox.length > 0 && !this.#sender.isFull) {
      const r = this.#sender.accept(this.#outbox.shift()!);
      if (!r.ok) throw new Error(r.code);
      this.#sender.confirm(r.seq);
    }
    const link = this.#link;
    if (!link?.welcomed || link.dead) return;
    for (const entry of this.#sender.takeWritable()) {
      link.ws.send(encodeData(entry.payload, entry.seq, this.#receiver.takeAck()));
    }
  }

  #maybeSabotage(link: Link): void {
    const total = Object.values(this.sabotages).reduce((a, b) => a + b, 0);
    if (total >= this.#options.maxSabotages || this.#options.random() >= this.#options.sabotageRate) return;
    const kind = SABOTAGES[Math.floor(this.#options.random() * SABOTAGES.length)]!;
    this.sabotages[kind]++;
    const socket = (link.ws as unknown as { _socket: Socket })._socket;
    switch (kind) {
      case 'destroy':
        this.#drop(link);
        socket.destroy();
        return;
      case 'terminate':
        this.#drop(link);
        link.ws.terminate();
        return;
      case 'move':
        link.ws.send(encodeControl({ t: 'reconnect', reason: 'draining', delay_ms: 20 }));
        return;
      case 'silence':
        // A half-open connection: nothing is read or written any more, only the device's watchdog can tell.
        this.#drop(link);
        socket.pause();
        return;
    }
  }

  /** Forget a link: nothing more is read from it or written on it; the sender rewinds for the next one. */
  #drop(link: Link): void {
    link.dead = true;
    if (link.ping !== undefined) clearInterval(link.ping);
    link.ping = undefined;
    if (this.#link === link) {
      this.#link = undefined;
      this.#sender.detach();
    }
  }
}
