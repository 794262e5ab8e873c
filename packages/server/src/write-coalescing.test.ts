/**
 * Write coalescing on real loopback sockets: frames written in one pass of the microtask queue are
 * held by the first write's cork and leave together, right after the pass, in one system call.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { coalesceWrites } from './write-coalescing.js';

async function socketPair(): Promise<{ writer: Socket; reader: Socket; close: () => void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const writer = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(writer, 'connect');
  const [reader] = await accepted;
  return {
    writer,
    reader,
    close: () => {
      writer.destroy();
      reader.destroy();
      server.close();
    },
  };
}

/** Resolves once the pass's microtasks and the ticks they queued ran. */
const afterPass = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('write coalescing', () => {
  it('holds the writes of a pass and sends them together once its microtasks ran', async () => {
    const { writer, reader, close } = await socketPair();
    try {
      const chunks: string[] = [];
      reader.on('data', (d: Buffer) => chunks.push(d.toString()));
      // The first frame from an I/O-like callback itself, the next ones from the microtasks it queued
      // (as resolved store writes are): all of them wait for the end of the pass.
      const held = await new Promise<{ corks: number; length: number }>((resolve) => {
        setImmediate(() => {
          coalesceWrites(writer);
          writer.write('one;');
          void Promise.resolve()
            .then(() => {
              coalesceWrites(writer);
              writer.write('two;');
            })
            .then(() => {
              coalesceWrites(writer);
              writer.write('three;');
              resolve({ corks: writer.writableCorked, length: writer.writableLength });
            });
        });
      });
      assert.equal(held.corks, 1, 'corked once, however many frames');
      assert.equal(held.length, 'one;two;three;'.length, 'nothing left before the pass ended');
      await afterPass();
      assert.equal(writer.writableCorked, 0);
      assert.equal(writer.writableLength, 0, 'handed to the kernel right after the pass');
      const deadline = Date.now() + 2000;
      while (chunks.join('') !== 'one;two;three;' && Date.now() < deadline) await once(reader, 'data');
      assert.deepEqual(chunks, ['one;two;three;'], 'one write, one read');
    } finally {
      close();
    }
  });

  it('leaves a destroyed socket alone and corks each live socket of a pass', async () => {
    const a = await socketPair();
    const b = await socketPair();
    try {
      a.writer.destroy();
      coalesceWrites(a.writer);
      assert.equal(a.writer.writableCorked, 0);
      coalesceWrites(b.writer);
      b.writer.write('x');
      assert.equal(b.writer.writableCorked, 1);
      await afterPass();
      assert.equal(b.writer.writableCorked, 0);
      assert.equal(b.writer.writableLength, 0);
    } finally {
      a.close();
      b.close();
    }
  });
});
