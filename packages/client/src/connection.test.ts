/**
 * The connection's write path over a real `ws` socket on 127.0.0.1:0: messages sent in one pass of
 * the microtask queue are held by one cork of the TCP socket and leave together right after it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { Connection } from './connection.js';
import { until } from './test-support/harness.js';
import { openSocket, type WebSocketConstructor } from './transport.js';

const afterPass = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe('connection writes', () => {
  it('sends the messages of one pass together, in order, once its microtasks ran', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const received: string[] = [];
    wss.on('connection', (ws) => ws.on('message', (m) => received.push(String(m))));
    const socket = openSocket(
      WebSocket as unknown as WebSocketConstructor,
      `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
      undefined,
    );
    let conn: Connection | undefined;
    const opened = new Promise<void>((resolve) => {
      conn = new Connection(
        socket,
        { open: resolve, frame: () => {}, undecodable: () => {}, socketError: () => {}, end: () => {} },
        { handshakeMs: 5000, closeMs: 1000 },
      );
    });
    try {
      await opened;
      // The TCP socket under ws, read here only to watch the mechanism.
      const raw = (socket as unknown as { _socket: Socket })._socket;
      assert.equal(conn!.send('one'), true);
      await Promise.resolve();
      conn!.send('two');
      conn!.send('three');
      assert.equal(raw.writableCorked, 1, 'one cork for the pass');
      assert.ok(raw.writableLength > 0, 'the frames wait for the end of the pass');
      await afterPass();
      assert.equal(raw.writableCorked, 0);
      assert.equal(raw.writableLength, 0, 'handed to the kernel right after the pass');
      await until(() => received.length === 3, 'the three messages at the server');
      assert.deepEqual(received, ['one', 'two', 'three']);
    } finally {
      await conn?.close(1000, 'done');
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
