/**
 * Test harness for the gateway: start one on port 0 with a short heartbeat, and a raw protocol device
 * (a bare `ws` client that sends and records frames) for tests that need to misbehave on purpose.
 */
import { once } from 'node:events';
import { decodeFrame, type Frame, type HelloFrame, type WelcomeFrame } from '@zerodrop/protocol';
import WebSocket from 'ws';
import { waitFor } from '../../../cli/src/lab/wait.js';
import type { GatewayApp } from '../app.js';
import { type GatewayConfig, loadConfig } from '../config.js';
import { createGateway, type Gateway, type ListenInfo } from '../gateway.js';
import { createLogger, type Logger } from '../logger.js';
import type { ResumeStore } from '../store/resume-store.js';

export { waitFor } from '../../../cli/src/lab/wait.js';

export interface TestGateway {
  gateway: Gateway;
  info: ListenInfo;
  close(): Promise<void>;
}

export async function startGateway(
  overrides: Partial<GatewayConfig> = {},
  options: { app?: GatewayApp; store?: ResumeStore; logger?: Logger } = {},
): Promise<TestGateway> {
  const config = loadConfig({
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: process.env.ZERODROP_TEST_LOG ?? 'silent',
      heartbeatMs: 200,
      heartbeatTimeoutMs: 2000,
      instanceId: 'test-a',
      ...overrides,
    },
  });
  const gateway = createGateway({ config, ...options });
  const info = await gateway.listen();
  return { gateway, info, close: () => gateway.close() };
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

/** A device that speaks the protocol by hand: every frame it receives is kept in `frames`. */
export class RawDevice {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const d = decodeFrame(isBinary ? data : data.toString('utf8'), isBinary);
      if (!d.ok) throw new Error(`gateway sent an undecodable frame: ${d.detail}`);
      if (d.frame.t === 'ping') ws.send(JSON.stringify({ t: 'pong', id: d.frame.id }));
      this.frames.push(d.frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      });
    });
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<RawDevice> {
    const ws = new WebSocket(url, options);
    const dev = new RawDevice(ws);
    await once(ws, 'open');
    return dev;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || frame instanceof Uint8Array ? frame : JSON.stringify(frame));
  }

  async hello(device: string, resume?: HelloFrame['resume']): Promise<WelcomeFrame> {
    this.send(resume ? { t: 'hello', v: 1, device, resume } : { t: 'hello', v: 1, device });
    return (await this.next('welcome')) as WelcomeFrame;
  }

  /** The first received frame of type `t` not yet taken. */
  async next<T extends Frame['t']>(t: T, timeoutMs = 5000): Promise<Extract<Frame, { t: T }>> {
    const i = await waitFor(
      () => {
        const idx = this.frames.findIndex((f) => f.t === t);
        return idx >= 0 ? idx + 1 : 0;
      },
      `a ${t} frame`,
      timeoutMs,
    );
    return this.frames.splice(i - 1, 1)[0] as Extract<Frame, { t: T }>;
  }

  dataFrames(): Extract<Frame, { t: 'msg' | 'bin' }>[] {
    return this.frames.filter(
      (f): f is Extract<Frame, { t: 'msg' | 'bin' }> => f.t === 'msg' || f.t === 'bin',
    );
  }

  close(): void {
    this.ws.close();
  }

  /** Cut the TCP connection without a close frame. */
  cut(): void {
    this.ws.terminate();
  }
}

/** Parse Prometheus text exposition into `name{labels}` → value. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** A logger that keeps every line it writes, for tests that check what is (not) logged. */
export function captureLogger(instance = 'test-a'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'trace',
    instance,
    destination: { write: (line: string) => void lines.push(line) },
  });
  return { logger, lines };
}
