/**
 * The connection's write path over a real `ws` socket on 127.0.0.1:0: messages sent together are held
 * by one cork of the TCP socket and leave in one write once the code that sent them returned.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { Connection } from './connection.js';
import { until } from './test-support/harness.js';
import { openSocket, type WebSocketConstructor } from './transport.js';

describe('connection writes', () => {
  it('sends the messages sent together in one write, in order, without waiting for a timer', async () => {
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
      conn!.send('two');
      conn!.send('three');
      assert.equal(raw.writableCorked, 1, 'one cork for the messages sent together');
      assert.ok(raw.writableLength > 0, 'they wait until the code that sent them returned');
      await Promise.resolve();
      assert.equal(raw.writableCorked, 0);
      assert.equal(raw.writableLength, 0, 'handed to the kernel right after');
      await until(() => received.length === 3, 'the three messages at the server');
      assert.deepEqual(received, ['one', 'two', 'three']);
      // An application's fake timers (which replace nextTick and the timers) never hold a write.
      const { nextTick } = process;
      process.nextTick = (() => {}) as typeof process.nextTick;
      try {
        conn!.send('four');
        await Promise.resolve();
        assert.equal(raw.writableLength, 0, 'written without a tick or a timer');
      } finally {
        process.nextTick = nextTick;
      }
      await until(() => received.length === 4, 'the fourth message at the server');
    } finally {
      await conn?.close(1000, 'done');
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
