/**
 * How to start one of this package's modules in a new Node process, from wherever this code runs:
 * from the TypeScript sources (tests, `npm test`: through tsx and the workspaces' `source` condition)
 * or from the compiled `dist/` (`npm run build`, the installed command: plain Node).
 */
import { fileURLToPath } from 'node:url';

export interface NodeEntry {
  /** Absolute path of the module to run. */
  readonly script: string;
  /** Node options it needs: none from dist, the TypeScript loader from the sources. */
  readonly execArgv: string[];
}

const FROM_SOURCES = import.meta.url.endsWith('.ts');

/** `module` relative to this folder (`packages/cli/src/lab` or `dist/lab`), without its extension. */
export function nodeEntry(module: string): NodeEntry {
  const script = fileURLToPath(new URL(`${module}.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url));
  // tsx by its resolved location: a child started from another directory still finds it.
  return {
    script,
    execArgv: FROM_SOURCES ? ['--conditions=source', '--import', import.meta.resolve('tsx')] : [],
  };
}
