/**
 * Gateway configuration: one table of settings, each with its environment variable, its flag, its
 * default (from the runbook where the runbook names one) and its bounds. Start-up reads flags over
 * environment over defaults and validates everything at once; an unknown `ZERODROP_*` variable, an
 * unknown flag, a value out of range or a contradictory pair stops start-up with a message naming it.
 * `docs/configuration.md` lists the same table (a test keeps the two in step).
 */
import { hostname } from 'node:os';
import {
  createError,
  DEFAULT_MAX_UNACKED,
  DEFAULT_RESUME_TTL_MS,
  Errors,
  type ZerodropError,
} from '@zerodrop/protocol';

type Kind = 'int' | 'duration' | 'string' | 'bool' | 'secret';

interface Setting<K extends Kind = Kind> {
  readonly env: string;
  readonly flag: string;
  readonly kind: K;
  readonly default: K extends 'bool' ? boolean : K extends 'int' | 'duration' ? number : string | undefined;
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

function setting<K extends Kind>(s: Setting<K>): Setting<K> {
  return s;
}

export const SETTINGS = {
  port: setting({
    env: 'PORT',
    flag: '--port',
    kind: 'int',
    default: 8000,
    min: 0,
    max: 65535,
    help: 'HTTP and WebSocket port (0 picks a free one).',
  }),
  host: setting({
    env: 'HOST',
    flag: '--host',
    kind: 'string',
    default: '0.0.0.0',
    help: 'Address to listen on.',
  }),
  wsPath: setting({
    env: 'ZERODROP_WS_PATH',
    flag: '--ws-path',
    kind: 'string',
    default: '/ws',
    help: 'Path devices open their WebSocket on.',
  }),
  instanceId: setting({
    env: 'ZERODROP_INSTANCE_ID',
    flag: '--instance-id',
    kind: 'string',
    default: undefined,
    help: 'Stable id of this instance (default: the host name).',
  }),
  maxConnections: setting({
    env: 'ZERODROP_MAX_CONNECTIONS',
    flag: '--max-connections',
    kind: 'int',
    default: 1000,
    min: 1,
    max: 10_000_000,
    help: 'Concurrent device connections per instance (runbook: 1000); the next upgrade gets 503.',
  }),
  maxUnacked: setting({
    env: 'ZERODROP_MAX_UNACKED',
    flag: '--max-unacked',
    kind: 'int',
    default: DEFAULT_MAX_UNACKED,
    min: 1,
    max: 100_000,
    help: 'Unacknowledged messages per session per direction (runbook: 200).',
  }),
  resumeTtl: setting({
    env: 'ZERODROP_RESUME_TTL',
    flag: '--resume-ttl',
    kind: 'duration',
    default: DEFAULT_RESUME_TTL_MS,
    min: 1000,
    help: 'How long a session outlives its connection (runbook: 15m).',
  }),
  tombstoneTtl: setting({
    env: 'ZERODROP_TOMBSTONE_TTL',
    flag: '--tombstone-ttl',
    kind: 'duration',
    default: 24 * 3600_000,
    min: 1000,
    help: 'How long an expired session is remembered, to answer resumes with `expired`.',
  }),
  expirySweep: setting({
    env: 'ZERODROP_EXPIRY_SWEEP',
    flag: '--expiry-sweep',
    kind: 'duration',
    default: 5000,
    min: 10,
    help: 'How often expired sessions are collected and dead-lettered.',
  }),
  maxFrameBytes: setting({
    env: 'ZERODROP_MAX_FRAME_BYTES',
    flag: '--max-frame-bytes',
    kind: 'int',
    default: 256 * 1024,
    min: 64,
    max: 64 * 1024 * 1024,
    help: 'Largest WebSocket message accepted; larger ones close the connection with 1009.',
  }),
  heartbeat: setting({
    env: 'ZERODROP_HEARTBEAT',
    flag: '--heartbeat',
    kind: 'duration',
    default: 15_000,
    min: 10,
    help: "Interval of the gateway's pings (RTT measurement and liveness).",
  }),
  heartbeatTimeout: setting({
    env: 'ZERODROP_HEARTBEAT_TIMEOUT',
    flag: '--heartbeat-timeout',
    kind: 'duration',
    default: 45_000,
    min: 20,
    help: 'A connection silent this long is closed with 4001; must exceed the heartbeat.',
  }),
  handshakeTimeout: setting({
    env: 'ZERODROP_HANDSHAKE_TIMEOUT',
    flag: '--handshake-timeout',
    kind: 'duration',
    default: 10_000,
    min: 10,
    help: 'Time from upgrade to hello before the connection is closed with 4003.',
  }),
  redisUrl: setting({
    env: 'REDIS_URL',
    flag: '--redis-url',
    kind: 'string',
    default: undefined,
    help: 'Redis resume store (redis://host:port/db); unset: the embedded memory store.',
  }),
  redisKeyPrefix: setting({
    env: 'ZERODROP_REDIS_PREFIX',
    flag: '--redis-prefix',
    kind: 'string',
    default: 'zd:',
    help: 'Prefix of every Redis key the gateway writes.',
  }),
  storeBacklog: setting({
    env: 'ZERODROP_STORE_BACKLOG',
    flag: '--store-backlog',
    kind: 'int',
    default: 100_000,
    min: 0,
    help: 'Store writes kept in order in memory while Redis is unreachable; beyond it sends are refused (store_unavailable).',
  }),
  adminToken: setting({
    env: 'ZERODROP_ADMIN_TOKEN',
    flag: '',
    kind: 'secret',
    default: undefined,
    help: 'Bearer token of the admin API (/admin/drain/*); unset: the admin API refuses every call. Environment only.',
  }),
  drainGrace: setting({
    env: 'ZERODROP_DRAIN_GRACE',
    flag: '--drain-grace',
    kind: 'duration',
    default: 30_000,
    min: 0,
    help: 'Window of a drain started by SIGTERM/SIGINT, and of /admin/drain/start without max_session_age_seconds.',
  }),
  drainSpread: setting({
    env: 'ZERODROP_DRAIN_SPREAD',
    flag: '--drain-spread',
    kind: 'duration',
    default: 10_000,
    min: 0,
    help: 'Reconnect hints of a drain go out in batches over half its window, but over no more than this.',
  }),
  affinityCookie: setting({
    env: 'ZERODROP_AFFINITY_COOKIE',
    flag: '--affinity-cookie',
    kind: 'string',
    default: 'zd_affinity',
    help: 'Name of the cookie (HttpOnly) that names this instance in every upgrade response, for sticky routing.',
  }),
  affinityTtl: setting({
    env: 'ZERODROP_AFFINITY_TTL',
    flag: '--affinity-ttl',
    kind: 'duration',
    default: 3_600_000,
    min: 1000,
    help: 'Lifetime of the affinity cookie and of the sticky:affinity:<device> key in Redis (runbook: 1h).',
  }),
  affinityPrefix: setting({
    env: 'ZERODROP_AFFINITY_PREFIX',
    flag: '--affinity-prefix',
    kind: 'string',
    default: 'sticky:affinity:',
    help: 'Prefix of the Redis key recording each device’s instance (the runbook purges sticky:affinity:*).',
  }),
  deviceSecrets: setting({
    env: 'ZERODROP_DEVICE_SECRETS',
    flag: '',
    kind: 'secret',
    default: undefined,
    help: 'Comma-separated HMAC secrets devices sign their tokens with (the first is current; all verify, for rotation). Unset: devices are not authenticated (development only). Environment only.',
  }),
  authSkew: setting({
    env: 'ZERODROP_AUTH_SKEW',
    flag: '--auth-skew',
    kind: 'duration',
    default: 300_000,
    min: 1000,
    help: 'A device token is valid while its timestamp is within this much of the gateway clock (±).',
  }),
  maxMessageRate: setting({
    env: 'ZERODROP_MAX_MESSAGE_RATE',
    flag: '--max-message-rate',
    kind: 'int',
    default: 200,
    min: 1,
    help: 'Frames per second one device may send (bursts up to twice that); beyond it the connection is closed with 4005.',
  }),
  maxPendingHandshakes: setting({
    env: 'ZERODROP_MAX_PENDING_HANDSHAKES',
    flag: '--max-pending-handshakes',
    kind: 'int',
    default: 500,
    min: 1,
    help: 'Connections upgraded (or being authenticated) that have not completed the hello; the next upgrade gets 503.',
  }),
  maxConnectionsPerIp: setting({
    env: 'ZERODROP_MAX_CONNECTIONS_PER_IP',
    flag: '--max-connections-per-ip',
    kind: 'int',
    default: 1000,
    min: 1,
    help: 'Connections from one client address (behind a trusted proxy: from X-Forwarded-For); the next gets 429.',
  }),
  trustedProxies: setting({
    env: 'ZERODROP_TRUSTED_PROXIES',
    flag: '--trusted-proxies',
    kind: 'string',
    default: '127.0.0.1,::1,::ffff:127.0.0.1',
    help: 'Peers whose X-Forwarded-For names the real client address (comma-separated).',
  }),
  allowedOrigins: setting({
    env: 'ZERODROP_ALLOWED_ORIGINS',
    flag: '--allowed-origins',
    kind: 'string',
    default: '',
    help: 'Browser Origins allowed to connect (comma-separated, or *). Requests without Origin (devices) are not affected.',
  }),
  adminAuthLimit: setting({
    env: 'ZERODROP_ADMIN_AUTH_LIMIT',
    flag: '--admin-auth-limit',
    kind: 'int',
    default: 10,
    min: 1,
    help: 'Failed admin or push authentications per client address per minute before it gets 429 for a minute.',
  }),
  serviceToken: setting({
    env: 'ZERODROP_SERVICE_TOKEN',
    flag: '',
    kind: 'secret',
    default: undefined,
    help: 'Bearer token of the push API (POST /api/v1/devices/{id}/messages); unset: the push API refuses every call. Environment only.',
  }),
  logLevel: setting({
    env: 'ZERODROP_LOG_LEVEL',
    flag: '--log-level',
    kind: 'string',
    default: 'info',
    help: 'trace, debug, info, warn, error, fatal or silent.',
  }),
  demo: setting({
    env: 'ZERODROP_DEMO',
    flag: '--demo',
    kind: 'bool',
    default: false,
    help: 'Run the demo application (a teddy bear that answers).',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;

export interface GatewayConfig {
  port: number;
  host: string;
  wsPath: string;
  instanceId: string;
  maxConnections: number;
  maxUnacked: number;
  resumeTtlMs: number;
  tombstoneTtlMs: number;
  expirySweepMs: number;
  maxFrameBytes: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  logLevel: string;
  demo: boolean;
  redisUrl: string | undefined;
  serviceToken: string | undefined;
  deviceSecrets: string | undefined;
  authSkewMs: number;
  maxMessageRate: number;
  maxPendingHandshakes: number;
  maxConnectionsPerIp: number;
  trustedProxies: string;
  allowedOrigins: string;
  adminAuthLimit: number;
  affinityCookie: string;
  affinityTtlMs: number;
  affinityPrefix: string;
  adminToken: string | undefined;
  drainGraceMs: number;
  drainSpreadMs: number;
  redisKeyPrefix: string;
  storeBacklog: number;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Environment variables that belong to the platform or to other parts of zerodrop, not to `serve`. */
const FOREIGN_ZERODROP_ENV = new Set([
  'ZERODROP_URL',
  'ZERODROP_TEST_CONCURRENCY',
  'ZERODROP_FUZZ_RUNS',
  'ZERODROP_TEST_LOG',
]);

function invalid(message: string): ZerodropError {
  return createError(Errors.INVALID_CONFIG, `invalid configuration: ${message}`);
}

/** Parse `1500`, `1500ms`, `30s`, `15m`, `1h` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms']!;
  return Math.round(Number(m[1]) * unit);
}

function parseValue(name: string, s: Setting, raw: string, source: string): unknown {
  switch (s.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw invalid(`${source} must be a whole number, got "${raw}"`);
      return Number(raw);
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (ms === undefined)
        throw invalid(`${source} must be a duration like 500ms, 30s, 15m or 1h, got "${raw}"`);
      return ms;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw invalid(`${source} must be true or false, got "${raw}"`);
    }
    default:
      if (raw.length === 0) throw invalid(`${source} (${name}) must not be empty`);
      return raw;
  }
}

export interface LoadConfigInput {
  argv?: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
  overrides?: Partial<GatewayConfig>;
}

const FIELD: Record<SettingName, keyof GatewayConfig> = {
  port: 'port',
  host: 'host',
  wsPath: 'wsPath',
  instanceId: 'instanceId',
  maxConnections: 'maxConnections',
  maxUnacked: 'maxUnacked',
  resumeTtl: 'resumeTtlMs',
  tombstoneTtl: 'tombstoneTtlMs',
  expirySweep: 'expirySweepMs',
  maxFrameBytes: 'maxFrameBytes',
  heartbeat: 'heartbeatMs',
  heartbeatTimeout: 'heartbeatTimeoutMs',
  handshakeTimeout: 'handshakeTimeoutMs',
  logLevel: 'logLevel',
  demo: 'demo',
  redisUrl: 'redisUrl',
  serviceToken: 'serviceToken',
  deviceSecrets: 'deviceSecrets',
  authSkew: 'authSkewMs',
  maxMessageRate: 'maxMessageRate',
  maxPendingHandshakes: 'maxPendingHandshakes',
  maxConnectionsPerIp: 'maxConnectionsPerIp',
  trustedProxies: 'trustedProxies',
  allowedOrigins: 'allowedOrigins',
  adminAuthLimit: 'adminAuthLimit',
  affinityCookie: 'affinityCookie',
  affinityTtl: 'affinityTtlMs',
  affinityPrefix: 'affinityPrefix',
  adminToken: 'adminToken',
  drainGrace: 'drainGraceMs',
  drainSpread: 'drainSpreadMs',
  redisKeyPrefix: 'redisKeyPrefix',
  storeBacklog: 'storeBacklog',
};

/** Read, merge and validate the configuration. Throws `invalid_config` naming every problem's source. */
export function loadConfig(input: LoadConfigInput = {}): GatewayConfig {
  const env = input.env ?? {};
  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const names = Object.keys(SETTINGS) as SettingName[];

  for (const key of Object.keys(env)) {
    if (
      key.startsWith('ZERODROP_') &&
      !FOREIGN_ZERODROP_ENV.has(key) &&
      !names.some((n) => SETTINGS[n].env === key)
    ) {
      throw invalid(`unknown environment variable ${key}`);
    }
  }
  for (const name of names) {
    const s = SETTINGS[name] as Setting;
    values[name] = s.default;
    sources[name] = 'default';
    const raw = env[s.env];
    if (raw !== undefined) {
      values[name] = parseValue(name, s, raw, s.env);
      sources[name] = s.env;
    }
  }
  const argv = input.argv ?? [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const name = names.find((n) => SETTINGS[n].flag !== '' && SETTINGS[n].flag === flag);
    if (!name) throw invalid(`unknown option ${flag}`);
    const s = SETTINGS[name] as Setting;
    let raw = inline;
    if (raw === undefined && s.kind !== 'bool') {
      raw = argv[++i];
      if (raw === undefined) throw invalid(`${flag} needs a value`);
    }
    values[name] = parseValue(name, s, raw ?? 'true', flag);
    sources[name] = flag;
  }
  for (const name of names) {
    const s = SETTINGS[name] as Setting;
    const v = values[name];
    if (typeof v === 'number') {
      if (s.min !== undefined && v < s.min)
        throw invalid(`${sources[name]} must be at least ${s.min}, got ${v}`);
      if (s.max !== undefined && v > s.max)
        throw invalid(`${sources[name]} must be at most ${s.max}, got ${v}`);
    }
  }
  const config = {} as Record<keyof GatewayConfig, unknown>;
  for (const name of names) config[FIELD[name]] = values[name];
  const merged = { ...(config as unknown as GatewayConfig), ...input.overrides };
  if (merged.instanceId === undefined) merged.instanceId = hostname();
  validate(merged, sources);
  return merged;
}

function validate(c: GatewayConfig, sources: Record<string, string>): void {
  if (!c.wsPath.startsWith('/')) throw invalid(`${sources.wsPath} must start with /, got "${c.wsPath}"`);
  if (c.redisUrl !== undefined && !/^rediss?:\/\//.test(c.redisUrl)) {
    throw invalid(`${sources.redisUrl} must be a redis:// or rediss:// URL`);
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(c.affinityCookie)) {
    throw invalid(`${sources.affinityCookie} must be a cookie name of letters, digits, - and _`);
  }
  if (c.deviceSecrets?.split(',').some((s) => s.trim().length < 16)) {
    throw invalid('every secret in ZERODROP_DEVICE_SECRETS must be at least 16 characters');
  }
  if (!LOG_LEVELS.includes(c.logLevel))
    throw invalid(`${sources.logLevel} must be one of ${LOG_LEVELS.join(', ')}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(c.instanceId)) {
    throw invalid(
      `instance id must be 1-64 letters, digits, dots, dashes or underscores, got "${c.instanceId}"`,
    );
  }
  if (c.heartbeatTimeoutMs <= c.heartbeatMs) {
    throw invalid(
      `heartbeat timeout (${c.heartbeatTimeoutMs} ms) must be longer than the heartbeat (${c.heartbeatMs} ms), or live devices would be cut`,
    );
  }
  if (c.resumeTtlMs <= c.heartbeatTimeoutMs) {
    throw invalid(
      `resume TTL (${c.resumeTtlMs} ms) must be longer than the heartbeat timeout (${c.heartbeatTimeoutMs} ms)`,
    );
  }
}

/** Settings as documented (for `zerodrop serve --help` and the configuration docs). */
export function describeSettings(): {
  name: string;
  env: string;
  flag: string;
  default: string;
  help: string;
}[] {
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = SETTINGS[name] as Setting;
    return {
      name,
      env: s.env,
      flag: s.flag === '' ? '(environment only)' : s.flag,
      default: s.default === undefined ? '' : String(s.default),
      help: s.help,
    };
  });
}
