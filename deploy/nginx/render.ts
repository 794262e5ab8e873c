/**
 * Renders deploy/nginx/nginx.conf.template, the one nginx configuration of zerodrop, for a topology:
 * which address to listen on, which gateway instances sit behind it (by the name their affinity
 * cookie and X-Affinity-Key carry), where pid, logs and temp files go, how long a reload may keep old
 * workers. `PRODUCTION_NGINX` is the compose topology; deploy/nginx/nginx.conf is its rendering
 * (`node --import tsx deploy/nginx/render.ts > deploy/nginx/nginx.conf`), and a test keeps it so.
 *
 * `tls` adds a TLS listener to the same server (devices connect with `wss://`; nginx speaks plain
 * HTTP/1.1 with the upgrade to the gateways, as on the plain port); without it nothing in the
 * rendering changes.
 *
 * Every option is checked before it reaches the file: a value that would change the configuration's
 * structure (a `;`, a space, a brace) is refused with a message naming the option, never rendered.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface NginxInstance {
  /** The instance's ZERODROP_INSTANCE_ID: what its affinity cookie and X-Affinity-Key name. */
  readonly name: string;
  /** `host:port` nginx proxies to. */
  readonly address: string;
}

export interface NginxPaths {
  readonly pid: string;
  readonly errorLog: string;
  readonly accessLog: string;
  /** Directory of the client_temp, proxy_temp, … directories. */
  readonly tempDir: string;
}

/** TLS ends at nginx: devices connect with `wss://`, the gateways behind still get plain HTTP/1.1. */
export interface NginxTls {
  /** PEM file with the server certificate, then its intermediates (nginx's `ssl_certificate`). */
  readonly certificate: string;
  /** PEM file with the certificate's private key (`ssl_certificate_key`); readable by nginx's master only. */
  readonly key: string;
  /** What the TLS `listen` takes: `443`, `127.0.0.1:8443`. Must differ from the plain `listen`. */
  readonly listen: string;
}

export interface NginxConfigOptions {
  /** What `listen` takes: `80`, `127.0.0.1:8080`, `[::]:80`. */
  readonly listen: string;
  readonly instances: readonly NginxInstance[];
  readonly paths: NginxPaths;
  /** How long old workers keep their connections after a reload, as nginx writes time: `30s`, `3s`. */
  readonly workerShutdownTimeout: string;
  /** Addresses or CIDR ranges that may read /nginx_status; everyone else gets 403. */
  readonly statusAllow: readonly string[];
  /** The gateway's ZERODROP_AFFINITY_COOKIE. */
  readonly affinityCookie: string;
  /** Default `auto`. */
  readonly workerProcesses?: number | 'auto';
  /** The gateway's ZERODROP_WS_PATH. Default `/ws`. */
  readonly wsPath?: string;
  /** Default `notice`: reloads and worker exits are logged. */
  readonly errorLogLevel?: 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit';
  /** Workers' user, for a master started as root whose workers must use root-owned paths (tests). */
  readonly user?: string;
  /** `false` for an nginx its starter keeps in the foreground and stops by PID (tests). */
  readonly daemon?: boolean;
  /** How long a refusing or unreachable instance is skipped. Default `5s`. */
  readonly failTimeout?: string;
  /** A TLS listener beside `listen`, serving the same routes. Default none. */
  readonly tls?: NginxTls;
}

/** The production compose topology: nginx on port 80 in front of `app` and `app_replica`. */
export const PRODUCTION_NGINX: NginxConfigOptions = {
  listen: '80',
  instances: [
    { name: 'app', address: 'app:8000' },
    { name: 'app_replica', address: 'app_replica:8000' },
  ],
  // The official nginx image's own locations, written out so that a test can swap them.
  paths: {
    pid: '/var/run/nginx.pid',
    errorLog: '/var/log/nginx/error.log',
    accessLog: '/var/log/nginx/access.log',
    tempDir: '/var/cache/nginx',
  },
  workerShutdownTimeout: '30s',
  statusAllow: ['127.0.0.1', '::1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
  affinityCookie: 'zd_affinity',
};

/** pid, logs and temp files all inside `prefix`, for an nginx run unprivileged or in a test. */
export function pathsUnder(prefix: string): NginxPaths {
  return {
    pid: `${prefix}/nginx.pid`,
    errorLog: `${prefix}/error.log`,
    accessLog: `${prefix}/access.log`,
    tempDir: `${prefix}/temp`,
  };
}

const TEMPLATE_URL = new URL('./nginx.conf.template', import.meta.url);

const INSTANCE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ADDRESS = /^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;
const LISTEN = /^(?:\d{1,5}|(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5})$/;
const NGINX_TIME = /^\d+(?:ms|s|m|h)?$/;
const ALLOW = /^[0-9A-Fa-f.:]+(?:\/\d{1,3})?$/;
const COOKIE = /^[A-Za-z0-9_-]{1,64}$/;
const WS_PATH = /^\/[A-Za-z0-9._~/-]*$/;
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._~/+@-]*$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

function invalid(message: string): never {
  throw new Error(`invalid nginx option: ${message}`);
}

function check(name: string, value: string, pattern: RegExp): string {
  if (!pattern.test(value)) invalid(`${name} ${JSON.stringify(value)} does not match ${pattern}`);
  return value;
}

/** An instance name as it may appear in an upstream name (letters, digits, _). */
const slug = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

function validate(o: NginxConfigOptions): void {
  check('listen', o.listen, LISTEN);
  if (o.instances.length === 0) invalid('instances must name at least one gateway instance');
  const slugs = new Set<string>();
  for (const i of o.instances) {
    check('instance name', i.name, INSTANCE_NAME);
    check(`address of ${i.name}`, i.address, ADDRESS);
    if (slugs.has(slug(i.name).toLowerCase()))
      invalid(`instance names must stay distinct with . and - read as _ (${i.name})`);
    slugs.add(slug(i.name).toLowerCase());
  }
  for (const [key, path] of Object.entries(o.paths)) check(`paths.${key}`, path, ABSOLUTE_PATH);
  check('workerShutdownTimeout', o.workerShutdownTimeout, NGINX_TIME);
  check('failTimeout', o.failTimeout ?? '5s', NGINX_TIME);
  for (const a of o.statusAllow) check('statusAllow entry', a, ALLOW);
  check('affinityCookie', o.affinityCookie, COOKIE);
  check('wsPath', o.wsPath ?? '/ws', WS_PATH);
  if (o.user !== undefined) check('user', o.user, USER);
  if (o.tls !== undefined) {
    check('tls.listen', o.tls.listen, LISTEN);
    if (o.tls.listen === o.listen) invalid(`tls.listen must differ from listen (${o.listen})`);
    check('tls.certificate', o.tls.certificate, ABSOLUTE_PATH);
    check('tls.key', o.tls.key, ABSOLUTE_PATH);
  }
  const workers = o.workerProcesses ?? 'auto';
  if (workers !== 'auto' && !(Number.isInteger(workers) && workers >= 1 && workers <= 256))
    invalid(`workerProcesses must be auto or 1 to 256, got ${workers}`);
}

function processDirectives(o: NginxConfigOptions): string[] {
  const lines: string[] = [];
  if (o.user !== undefined) lines.push(`user ${o.user};`);
  if (o.daemon === false) lines.push('daemon off;');
  if (o.daemon === true) lines.push('daemon on;');
  // In the container the master runs in the foreground by the image's command, not by this file:
  // `daemon off;` here and in `nginx -g 'daemon off;'` would make nginx refuse to start.
  return lines.length > 0
    ? lines
    : ["# user, daemon: the image's (its command runs nginx -g 'daemon off;')."];
}

/** The TLS listener and its settings, inside the server block; nothing without `tls`. */
function tlsDirectives(o: NginxConfigOptions): string[] {
  if (o.tls === undefined) return [];
  return [
    '        # TLS ends here: devices connect with wss://, the gateways get the same HTTP/1.1 upgrade as',
    '        # on the plain port (with X-Forwarded-Proto: https).',
    `        listen ${o.tls.listen} ssl;`,
    `        ssl_certificate ${o.tls.certificate};`,
    `        ssl_certificate_key ${o.tls.key};`,
    '        ssl_protocols TLSv1.2 TLSv1.3;',
    '        # Devices reconnect often; a resumed TLS session spares them a full handshake.',
    '        ssl_session_cache shared:zerodrop_tls:10m;',
    '        ssl_session_timeout 1h;',
  ];
}

function upstreams(o: NginxConfigOptions): { sticky: string[]; pinned: string[]; pool: string[] } {
  const fail = `max_fails=1 fail_timeout=${o.failTimeout ?? '5s'}`;
  const sticky: string[] = [];
  const pinned: string[] = [];
  for (const named of o.instances) {
    const others = o.instances.filter((i) => i !== named);
    sticky.push(
      '',
      `    # Devices whose affinity names ${named.name}; the others take them only when it refuses or is down.`,
      `    upstream zerodrop_sticky_${slug(named.name)} {`,
      '        zone zerodrop_upstreams;',
      `        server ${named.address} ${fail};`,
      ...others.map((i) => `        server ${i.address} backup ${fail};`),
      '    }',
    );
    pinned.push(
      '',
      `    upstream zerodrop_only_${slug(named.name)} {`,
      '        zone zerodrop_upstreams;',
      `        server ${named.address};`,
      '    }',
    );
  }
  return { sticky, pinned, pool: o.instances.map((i) => `        server ${i.address} ${fail};`) };
}

/** Fill the template: `{{slot}}` inline, or a slot alone on its line replaced by whole lines. */
function fill(template: string, inline: Record<string, string>, blocks: Record<string, string[]>): string {
  const used = new Set<string>();
  const out: string[] = [];
  for (const line of template.split('\n')) {
    const block = /^\{\{(\w+)\}\}$/.exec(line);
    if (block && blocks[block[1]!] !== undefined) {
      used.add(block[1]!);
      out.push(...blocks[block[1]!]!);
      continue;
    }
    out.push(
      line.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        const value = inline[key];
        if (value === undefined) throw new Error(`nginx.conf.template: unknown slot {{${key}}}`);
        used.add(key);
        return value;
      }),
    );
  }
  const unused = [...Object.keys(inline), ...Object.keys(blocks)].filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`nginx.conf.template lacks the slots ${unused.join(', ')}`);
  return out.join('\n');
}

export function renderNginxConfig(options: NginxConfigOptions): string {
  validate(options);
  const { sticky, pinned, pool } = upstreams(options);
  const names = options.instances.map((i) => i.name);
  const routes = (prefix: string) =>
    options.instances.map((i) => `        ${JSON.stringify(i.name)} zerodrop_${prefix}_${slug(i.name)};`);
  return fill(
    readFileSync(TEMPLATE_URL, 'utf8'),
    {
      worker_processes: String(options.workerProcesses ?? 'auto'),
      pid_path: options.paths.pid,
      error_log_path: options.paths.errorLog,
      error_log_level: options.errorLogLevel ?? 'notice',
      access_log_path: options.paths.accessLog,
      temp_dir: options.paths.tempDir,
      worker_shutdown_timeout: options.workerShutdownTimeout,
      affinity_cookie: options.affinityCookie,
      listen: options.listen,
      ws_path: options.wsPath ?? '/ws',
      next_upstream_tries: String(options.instances.length),
      instance_names: names.join(', '),
    },
    {
      process_directives: processDirectives(options),
      tls_directives: tlsDirectives(options),
      affinity_routes: routes('sticky'),
      pinned_routes: routes('only'),
      pool_servers: pool,
      sticky_upstreams: sticky,
      pinned_upstreams: pinned,
      status_allow: options.statusAllow.map((a) => `            allow ${a};`),
    },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(renderNginxConfig(PRODUCTION_NGINX));
}
