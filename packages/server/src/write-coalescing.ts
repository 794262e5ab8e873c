/**
 * Frames written to one device socket in the same pass of the microtask queue leave in one system
 * call. A batch of store answers resolves the sends of many sessions at once, and a device that sent
 * several messages gets their replies together: each would otherwise be its own `writev`, and on
 * loopback and virtual machines a write that wakes its reader costs more than the frame's JS.
 *
 * The first frame of a pass corks its socket; every socket corked in the pass is uncorked, one after
 * the other, once the microtasks of the pass ran. A `process.nextTick` queued from a microtask runs
 * only after the whole microtask queue drained, whereas one queued from the callback itself would
 * run before the callback's microtasks: the tick is therefore queued from a microtask, whichever the
 * first frame came from. Nothing waits for a later turn of the event loop.
 */
import type { Socket } from 'node:net';

const corked: Socket[] = [];

function uncorkAll(): void {
  // A socket corked again during this loop (an uncork that ran user code) goes in the next pass.
  const sockets = corked.splice(0);
  for (let i = 0; i < sockets.length; i++) {
    try {
      sockets[i]!.uncork();
    } catch (err) {
      // Never left corked: a socket that cannot write is closed, and its session resumes elsewhere.
      sockets[i]!.destroy(err as Error);
    }
  }
}

function uncorkAfterMicrotasks(): void {
  process.nextTick(uncorkAll);
}

/** Hold `socket`'s writes until the microtasks of this pass ran. */
export function coalesceWrites(socket: Socket): void {
  if (socket.writableCorked !== 0 || socket.destroyed) return;
  socket.cork();
  if (corked.push(socket) === 1) queueMicrotask(uncorkAfterMicrotasks);
}
