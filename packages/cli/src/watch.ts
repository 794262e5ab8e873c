/**
 * What `--watch` needs: a refresh loop that Ctrl-C ends cleanly (the first SIGINT stops the loop
 * after the current request; a second one kills as usual), and screen handling: a terminal is
 * redrawn in place, a pipe or log gets one block per refresh.
 */

export interface Interrupt {
  /** Aborted on the first Ctrl-C. */
  readonly signal: AbortSignal;
  dispose(): void;
}

export function interruptOnSigint(): Interrupt {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** Wait `ms`, or less if `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Print one refresh of a watch: redraw a terminal, or append a block to a pipe. */
export function printRefresh(text: string, first: boolean): void {
  if (process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
  else if (!first) process.stdout.write('\n');
  process.stdout.write(`${text}\n`);
}
