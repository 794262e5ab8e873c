/**
 * The lab's nginx configuration is the production one: deploy/nginx/nginx.conf.template, rendered by
 * deploy/nginx/render.ts (`renderNginxConfig`) from `PRODUCTION_NGINX` with only what must differ on
 * one machine swapped: loopback addresses, a private prefix for pid, logs and temp files, nginx kept
 * in the foreground, and a shorter `worker_shutdown_timeout` so a reload's old workers hand their
 * devices over within a drill.
 *
 * render.ts is TypeScript outside this package and reads its template from beside itself, so the lab
 * loads it where it lies in the repository checkout: directly when this code runs from the sources,
 * through tsx (the repository's TypeScript loader) when it runs from the compiled `dist/`. The lab is a
 * development tool: it needs the checkout (deploy/nginx) and its dev dependencies (`npm install`).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NginxConfigSource, NginxRuntime } from './nginx-process.js';

/** What the lab uses of deploy/nginx/render.ts (its option type is checked in lab.test.ts). */
export interface NginxRenderer {
  readonly PRODUCTION_NGINX: object;
  renderNginxConfig(options: object): string;
}

export interface LabUpstream {
  /** The instance's ZERODROP_INSTANCE_ID, as its affinity cookie and X-Affinity-Key name it. */
  readonly name: string;
  readonly port: number;
}

/** Production waits 30 s for old workers after a reload; the lab 5 s, so a drill sees the hand-over. */
export const LAB_WORKER_SHUTDOWN_TIMEOUT = '5s';

/** `PRODUCTION_NGINX` with the lab's loopback addresses, paths and timeout swapped in. */
export function labNginxOptions<P extends object>(
  production: P,
  runtime: NginxRuntime,
  upstreams: readonly LabUpstream[],
) {
  return {
    ...production,
    listen: `127.0.0.1:${runtime.port}`,
    instances: upstreams.map((u) => ({ name: u.name, address: `127.0.0.1:${u.port}` })),
    paths: runtime.paths,
    user: runtime.user,
    daemon: false,
    workerProcesses: 2,
    workerShutdownTimeout: LAB_WORKER_SHUTDOWN_TIMEOUT,
    statusAllow: ['127.0.0.1'],
  };
}

/**
 * The deploy/nginx directory of the checkout: found from this module (sources or dist), else from
 * the current directory upwards; an error saying what is missing otherwise.
 */
export function findDeployNginx(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const candidate = join(dir, 'deploy', 'nginx');
      if (existsSync(join(candidate, 'nginx.conf.template')) && existsSync(join(candidate, 'render.ts')))
        return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(
    'deploy/nginx/nginx.conf.template and render.ts not found: the lab runs from a zerodrop checkout (run it inside the repository)',
  );
}

export async function loadNginxRenderer(): Promise<NginxRenderer> {
  const render = pathToFileURL(join(findDeployNginx(), 'render.ts')).href;
  if (import.meta.url.endsWith('.ts')) return (await import(render)) as NginxRenderer;
  let tsImport: (specifier: string, parent: string) => Promise<unknown>;
  try {
    ({ tsImport } = await import('tsx/esm/api'));
  } catch {
    throw new Error(
      'the lab renders deploy/nginx/render.ts with tsx, which is not installed: run "npm install" in the checkout',
    );
  }
  return (await tsImport(render, import.meta.url)) as NginxRenderer;
}

/** A configuration source for NginxProcess: the lab's rendering for these upstreams. */
export function labNginxConfig(
  renderer: NginxRenderer,
  upstreams: readonly LabUpstream[],
): NginxConfigSource {
  return (runtime) =>
    renderer.renderNginxConfig(labNginxOptions(renderer.PRODUCTION_NGINX, runtime, upstreams));
}
