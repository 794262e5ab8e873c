/**
 * The deploy files carry the zero-drop behaviour, so they are checked against the code and the lab
 * topology instead of being trusted: the Dockerfile builds what `npm run build` produces and its health
 * check really answers; the production compose file validates with `docker-compose config` and matches
 * the topology the nginx configuration and the tests use (instances `app` and `app_replica` on the
 * gateway's port, the runbook's Redis snapshots as the lab Redis has them, a stop grace period longer
 * than the drain); the Kubernetes manifests probe the right endpoints and give a drain time to finish.
 * Every gateway environment block goes through the gateway's own `loadConfig`, so a renamed setting or
 * a bad value fails here, not at 3 a.m.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type GatewayConfig, loadConfig, SETTINGS } from '@zerodrop/server';
import { Redis } from 'ioredis';
import { PRODUCTION_NGINX } from '../deploy/nginx/render.js';
import { startGateway, type TestGateway } from '../packages/server/src/test-support/harness.js';
import { freePort, RedisProcess, requireBinary } from '../packages/server/src/test-support/processes.js';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Not a YAML library: Debian's python3-yaml (docker-compose's own parser) turns YAML into JSON. */
function parseYaml(text: string): unknown[] {
  const python = requireBinary('python3', 'python3-yaml');
  const r = spawnSync(
    python,
    ['-c', 'import json,sys,yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)'],
    { input: text, encoding: 'utf8', timeout: 10_000 },
  );
  if (r.status !== 0) {
    const hint = r.stderr.includes("No module named 'yaml'")
      ? ' (run "apt-get install -y python3-yaml")'
      : '';
    throw new Error(`could not parse YAML${hint}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as unknown[];
}

/** `45s`, `1m30s`, `500ms`, `2h` (compose, nginx and gateway durations) in milliseconds. */
function durationMs(text: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  assert.ok(parts.length > 0 && parts.map((p) => p[0]).join('') === text, `a duration: "${text}"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

/** The gateway configuration an environment block gives, exactly as `zerodrop serve` would read it. */
function gatewayConfig(env: Record<string, string>): GatewayConfig {
  return loadConfig({ env });
}

// ── Dockerfile ─────────────────────────────────────────────────────────────────────────────────────

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: Instruction[];
}

/** Stages of a Dockerfile, continuation lines joined, global ARG defaults substituted in FROM. */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [name, value = ''] = args.split('=');
      globals.set(name!, value);
    } else if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(m, `FROM ${args}`);
      const base = m[1]!.replace(/\$\{(\w+)\}/g, (_, n: string) => globals.get(n) ?? '');
      stages.push({ name: m[2], base, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${keyword} before the first FROM`);
      stages.at(-1)!.instructions.push({ keyword: upper, args });
    }
  }
  return stages;
}

const only = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

/** `COPY [--from=x] src... dest` → { from, sources, dest }. */
function copyOf(i: Instruction): { from: string | undefined; sources: string[]; dest: string } {
  const words = i.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** The exec-form command of HEALTHCHECK, after its options. */
function healthcheckCommand(stage: Stage): string[] {
  const [hc] = only(stage, 'HEALTHCHECK');
  assert.ok(hc, 'the runtime stage has a HEALTHCHECK');
  const m = /\bCMD\s+(\[.*\])\s*$/.exec(hc.args);
  assert.ok(m, 'HEALTHCHECK uses the exec form (no shell in the way)');
  return JSON.parse(m[1]!) as string[];
}

/** .dockerignore semantics: the last pattern that matches a path or one of its parents decides. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const segments = pattern.split('/');
      let source = '';
      segments.forEach((seg, i) => {
        const last = i === segments.length - 1;
        if (seg === '**') source += last ? '.*' : '(?:.*/)?';
        else {
          const glob = seg
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]');
          source += last ? glob : `${glob}/`;
        }
      });
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    let excluded = false;
    for (const rule of rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (rule.re.test(parts.slice(0, n).join('/'))) {
          excluded = !rule.negate;
          break;
        }
      }
    }
    return excluded;
  };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(ROOT, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      if (name === 'node_modules' || name === '.git') continue;
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Runs a health check command with PORT set; resolves with its exit code (bounded). */
function runHealthcheck(argv: string[], port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { PATH: process.env.PATH, PORT: String(port) },
      stdio: 'ignore',
      timeout: 10_000,
    });
    child.once('exit', (code) => resolve(code));
  });
}

const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
const stages = parseDockerfile(read('Dockerfile'));
const runtime = stages.at(-1)!;
const stageNamed = (name: string | undefined) => stages.find((s) => s.name === name);
const buildStage = stages.find((s) => only(s, 'RUN').some((r) => /\bnpm run build\b/.test(r.args)));

describe('Dockerfile', () => {
  let gateway: TestGateway;
  before(async () => {
    gateway = await startGateway();
  });
  after(() => gateway.close());

  it('builds with every dependency, and runs on a small Node 20 base with production dependencies only', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) assert.match(s.base, /^node:20(?:\.[\d.]+)?-(?:[a-z]+-)?(?:slim|alpine)/);
    assert.ok(buildStage, 'a stage runs npm run build');
    assert.ok(
      only(buildStage, 'RUN').some((r) => /\bnpm ci\b/.test(r.args) && !r.args.includes('--omit=dev')),
      'the build stage installs every dependency (the compiler is a dev dependency)',
    );
    assert.deepEqual(only(runtime, 'RUN'), [], 'the runtime stage runs nothing: no compiler, no npm');
    const modules = only(runtime, 'COPY')
      .map(copyOf)
      .find((c) => c.sources.some((s) => s.endsWith('/node_modules')));
    assert.ok(modules?.from, 'node_modules comes from another stage');
    const deps = stageNamed(modules.from);
    assert.ok(deps, `stage ${modules.from}`);
    assert.ok(
      only(deps, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)),
      `${modules.from} installs production dependencies only`,
    );
  });

  it('copies every workspace package into the runtime stage: its package.json and its compiled dist', () => {
    const copied = only(runtime, 'COPY')
      .map(copyOf)
      .filter((c) => c.from !== undefined && c.from === buildStage?.name)
      .flatMap((c) => c.sources);
    for (const ws of workspaces) {
      assert.ok(
        copied.some((s) => s.endsWith(`/${ws}/package.json`)),
        `${ws}/package.json is in the image (node resolves @zerodrop/* through it)`,
      );
      assert.ok(
        copied.some((s) => s.endsWith(`/${ws}/dist`)),
        `${ws}/dist is in the image`,
      );
    }
  });

  it('runs `zerodrop serve` as a non-root user, stops with SIGTERM and exposes the gateway port', () => {
    const cmd = only(runtime, 'CMD');
    assert.equal(cmd.length, 1);
    assert.deepEqual(JSON.parse(cmd[0]!.args), ['node', 'packages/cli/dist/bin.js', 'serve']);
    assert.ok(existsSync(join(ROOT, 'packages/cli/src/bin.ts')), 'the CMD runs the compiled CLI entry point');
    const user = only(runtime, 'USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `runs as a non-root user, not "${user}"`);
    assert.deepEqual(
      only(runtime, 'STOPSIGNAL').map((i) => i.args),
      ['SIGTERM'],
    );
    assert.ok(
      only(runtime, 'EXPOSE').some((i) => i.args.split(/\s+/).includes(String(SETTINGS.port.default))),
      `EXPOSE ${SETTINGS.port.default}`,
    );
  });

  it('its HEALTHCHECK asks /health (liveness, 200 while draining) and fails when nothing answers', async () => {
    const argv = healthcheckCommand(runtime);
    assert.ok(argv.join(' ').includes("/health'"), 'checks /health');
    assert.ok(!argv.join(' ').includes('/health/ready'), 'not readiness: a draining instance is alive');
    assert.equal(await runHealthcheck(argv, gateway.info.port), 0, 'healthy while the gateway serves');
    assert.equal(await runHealthcheck(argv, await freePort()), 1, 'unhealthy when nothing listens');
  });

  it('builds only from files the build context holds, and the context holds no build output or secrets', () => {
    const ignored = dockerignore(read('.dockerignore'));
    const sources = stages
      .flatMap((s) => only(s, 'COPY').map(copyOf))
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources)
      .map((s) => s.replace(/\/$/, ''));
    for (const src of sources) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: exists`);
      const files = statSync(join(ROOT, src)).isDirectory() ? filesUnder(src) : [src];
      const needed = files.filter((f) => !/\/(dist|node_modules)\//.test(f) && !/\.test\.ts$/.test(f));
      assert.ok(needed.length > 0, `COPY ${src}: has files`);
      for (const f of needed.filter((f) => !f.includes('/test-support/')))
        assert.ok(!ignored(f), `${f} reaches the builder`);
    }
    for (const p of [
      '.git/HEAD',
      'node_modules/tsx/package.json',
      'packages/server/dist/index.js',
      'packages/server/node_modules/x/index.js',
      '.env',
      'deployment/.env.production',
      'packages/server/.env',
      'test/drain.test.ts',
      'packages/server/src/resume.test.ts',
    ])
      assert.ok(ignored(p), `${p} stays out of the build context`);
  });
});

// ── docker-compose.production.yml ──────────────────────────────────────────────────────────────────

const COMPOSE_FILE = 'deployment/docker-compose.production.yml';
const SECRETS = {
  ADMIN_TOKEN: 'admin-token-from-the-environment',
  SERVICE_TOKEN: 'service-token-from-the-environment',
  DEVICE_SECRETS: 'device-secret-from-the-environment',
} as const;

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  expose?: string[];
  ports?: { published: number | string; target: number | string }[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  stop_signal?: string;
  stop_grace_period?: string;
  networks?: Record<string, { ipv4_address?: string } | null>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `docker-compose config` with exactly the environment given (and an empty .env), from the repo root. */
async function composeConfig(env: Record<string, string>): Promise<Run> {
  const bin = requireBinary('docker-compose', 'docker-compose');
  const dir = mkdtempSync(join(tmpdir(), 'zerodrop-compose-'));
  const envFile = join(dir, 'empty.env');
  writeFileSync(envFile, '');
  try {
    return await new Promise<Run>((resolve, reject) => {
      const child = spawn(bin, ['--env-file', envFile, '-f', COMPOSE_FILE, 'config'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: dir, ...env },
        timeout: 30_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deployment/docker-compose.production.yml', () => {
  let compose: ComposeFile;
  let labSave: string;
  let gateways: [string, ComposeService][];
  let withoutOne: { name: string; run: Run }[];

  before(async () => {
    // Every docker-compose run costs a Python start-up: run them all at once.
    const withoutEach = Object.keys(SECRETS).map((name) => {
      const { [name as keyof typeof SECRETS]: _, ...rest } = SECRETS;
      return composeConfig(rest).then((run) => ({ name, run }));
    });
    const r = await composeConfig(SECRETS);
    withoutOne = await Promise.all(withoutEach);
    assert.equal(r.status, 0, `docker-compose config: ${r.stderr}`);
    compose = parseYaml(r.stdout)[0] as ComposeFile;
    gateways = Object.entries(compose.services).filter(([, s]) => s.environment?.ZERODROP_INSTANCE_ID);
    // The lab's Redis, as the tests start it with the runbook's persistence: what it really runs with.
    const redis = await RedisProcess.start({ persistence: true });
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      await client.connect();
      labSave = ((await client.config('GET', 'save')) as string[])[1]!;
    } finally {
      client.disconnect();
      await redis.destroy();
    }
  });

  it('validates with docker-compose config, and has the topology of the lab: app, app_replica, redis, nginx', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['app', 'app_replica', 'nginx', 'redis']);
    assert.deepEqual(
      gateways.map(([name]) => name).sort(),
      PRODUCTION_NGINX.instances.map((i) => i.name).sort(),
      'the gateway services are the instances nginx routes to',
    );
  });

  it('refuses to start without each secret, and holds none itself', () => {
    assert.equal(withoutOne.length, Object.keys(SECRETS).length);
    for (const { name, run } of withoutOne) {
      assert.notEqual(run.status, 0, `config without ${name} fails`);
      assert.match(run.stderr, new RegExp(name), `the error names ${name}`);
    }
    const raw = parseYaml(read(COMPOSE_FILE))[0] as { 'x-gateway-environment': Record<string, string> };
    const env = raw['x-gateway-environment'];
    for (const [variable, secret] of [
      ['ZERODROP_ADMIN_TOKEN', 'ADMIN_TOKEN'],
      ['ZERODROP_SERVICE_TOKEN', 'SERVICE_TOKEN'],
      ['ZERODROP_DEVICE_SECRETS', 'DEVICE_SECRETS'],
    ] as const) {
      assert.match(env[variable]!, new RegExp(`^\\$\\{${secret}:\\?`), `${variable} is \${${secret}:?…}`);
      for (const [service, s] of gateways)
        assert.equal(s.environment![variable], SECRETS[secret], `${service} gets ${variable}`);
    }
  });

  it('every gateway runs a valid configuration: its own instance id, the port nginx proxies to, Redis as the store', () => {
    for (const [service, s] of gateways) {
      const config = gatewayConfig(s.environment!);
      assert.equal(config.instanceId, service, `${service}: ZERODROP_INSTANCE_ID is the service name`);
      assert.equal(config.port, SETTINGS.port.default, `${service}: the gateway port`);
      const nginx = PRODUCTION_NGINX.instances.find((i) => i.name === service);
      assert.equal(nginx?.address, `${service}:${config.port}`, `nginx proxies to ${service}:${config.port}`);
      assert.ok(s.expose?.includes(String(config.port)), `${service} exposes ${config.port}`);
      assert.equal(config.affinityCookie, PRODUCTION_NGINX.affinityCookie, 'nginx routes on the same cookie');
      assert.equal(config.wsPath, PRODUCTION_NGINX.wsPath ?? '/ws', 'nginx proxies the same WebSocket path');
      const redisUrl = new URL(config.redisUrl ?? 'redis://unset');
      assert.equal(redisUrl.hostname, 'redis', `${service}: REDIS_URL names the redis service`);
      assert.equal(redisUrl.port || '6379', '6379', `${service}: on the port redis-server listens on`);
      assert.deepEqual(s.depends_on?.redis, { condition: 'service_healthy' });
    }
  });

  it('gives a gateway longer to stop than its drain takes, and stops it with SIGTERM', () => {
    for (const [service, s] of gateways) {
      const { drainGraceMs } = gatewayConfig(s.environment!);
      assert.equal(s.stop_signal, 'SIGTERM', `${service}: SIGTERM starts the drain`);
      assert.ok(s.stop_grace_period, `${service}: stop_grace_period is set (Docker's default is 10 s)`);
      assert.ok(
        drainGraceMs < durationMs(s.stop_grace_period),
        `${service}: drain ${drainGraceMs} ms < stop_grace_period ${s.stop_grace_period}`,
      );
    }
  });

  it("checks each gateway's health with the image's own /health check", () => {
    const argv = healthcheckCommand(runtime);
    for (const [service, s] of gateways) assert.deepEqual(s.healthcheck?.test, ['CMD', ...argv], service);
  });

  it("runs Redis 7 with the runbook's snapshots (as the lab Redis has them), an append-only file and no eviction", () => {
    const redis = compose.services.redis!;
    assert.match(redis.image ?? '', /^redis:7(\b|\.)/);
    const args = redis.command ?? [];
    const arg = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(labSave, '900 1 300 10 60 10000', "the lab Redis runs the runbook's save setting");
    assert.equal(arg('--save')?.split(/\s+/).join(' '), labSave);
    assert.equal(arg('--appendonly'), 'yes');
    assert.equal(arg('--maxmemory-policy'), 'noeviction', 'an evicted key would be lost messages');
  });

  it('puts nginx with deploy/nginx/nginx.conf on port 80, in front of healthy gateways that trust it', () => {
    const nginx = compose.services.nginx!;
    assert.ok(
      nginx.volumes?.includes(`${ROOT}/deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro`),
      `mounts deploy/nginx/nginx.conf read-only: ${nginx.volumes}`,
    );
    const conf = read('deploy/nginx/nginx.conf');
    assert.deepEqual(
      nginx.ports?.map((p) => String(p.target)),
      [PRODUCTION_NGINX.listen],
    );
    assert.match(conf, new RegExp(`listen ${PRODUCTION_NGINX.listen};`));
    const upstreamServers = new Set(
      [...conf.matchAll(/^\s*server\s+([A-Za-z0-9_.-]+:\d+)/gm)].map((m) => m[1]),
    );
    assert.deepEqual(
      [...upstreamServers].sort(),
      gateways.map(([name, s]) => `${name}:${gatewayConfig(s.environment!).port}`).sort(),
      'nginx.conf proxies to exactly the gateway services, on their port',
    );
    for (const [service] of gateways)
      assert.deepEqual(nginx.depends_on?.[service], { condition: 'service_healthy' }, service);
    const healthUrl = new URL(nginx.healthcheck?.test.find((a) => a.startsWith('http://')) ?? '');
    assert.match(conf, new RegExp(`location = ${healthUrl.pathname} \\{[^}]*allow 127\\.0\\.0\\.1;`));
    assert.ok(
      durationMs(PRODUCTION_NGINX.workerShutdownTimeout) < durationMs(nginx.stop_grace_period ?? '10s'),
      'nginx finishes its graceful stop (worker_shutdown_timeout) before Docker kills it',
    );
    const nginxAddress = nginx.networks?.zerodrop?.ipv4_address;
    assert.ok(nginxAddress, 'nginx has a fixed address');
    for (const [service, s] of gateways) {
      const trusted = gatewayConfig(s.environment!).trustedProxies.split(',');
      assert.ok(trusted.includes(nginxAddress), `${service} reads the device address nginx forwards`);
      // nginx resolves upstream names at start and reload only: a recreated container keeps its address.
      assert.ok(s.networks?.zerodrop?.ipv4_address, `${service} has a fixed address`);
    }
  });
});

// ── Kubernetes ─────────────────────────────────────────────────────────────────────────────────────

const K8S = 'deploy/kubernetes';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, unknown>; annotations?: Record<string, unknown> };
  spec?: unknown;
  stringData?: Record<string, unknown>;
  resources?: string[];
}

interface EnvVar {
  name: string;
  value?: unknown;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

interface Container {
  name: string;
  command?: string[];
  ports: { name?: string; containerPort: number }[];
  env: EnvVar[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
}

interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  strategy: { type: string; rollingUpdate: { maxSurge: number | string; maxUnavailable: number | string } };
  template: {
    metadata: { labels: Record<string, string>; annotations?: Record<string, unknown> };
    spec: {
      terminationGracePeriodSeconds: number;
      securityContext?: { runAsNonRoot?: boolean };
      containers: Container[];
    };
  };
}

/** Time the gateway needs after the drain window: settle the last store writes, close, exit. */
const SETTLE_MARGIN_S = 10;

describe('deploy/kubernetes', () => {
  const files = readdirSync(join(ROOT, K8S)).filter((f) => /\.ya?ml$/.test(f));
  const objects = files.flatMap((f) =>
    parseYaml(read(`${K8S}/${f}`)).map((doc) => ({ file: f, ...(doc as K8sObject) })),
  );
  const one = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    assert.equal(found.length, 1, `one ${kind}`);
    return found[0]!;
  };
  const deployment = one('Deployment');
  const spec = deployment.spec as DeploymentSpec;
  const podLabels = spec.template.metadata.labels;
  const container = spec.template.spec.containers[0]!;
  const secret = one('Secret');

  /** The container's environment with every Secret reference filled by a valid stand-in value. */
  function containerEnv(): Record<string, string> {
    const standIn: Record<string, string> = {
      'redis-url': 'redis://redis:6379/0',
      'device-secrets': 'a-device-secret-of-32-characters',
    };
    const env: Record<string, string> = {};
    for (const e of container.env) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) env[e.name] = standIn[ref.key] ?? `stand-in-${ref.key}`;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name')
        env[e.name] = 'zerodrop-gateway-5d8f7-x2k9q';
      else env[e.name] = e.value as string;
    }
    return env;
  }
  const matches = (selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  const namedPort = (name: string | number) => container.ports.find((p) => p.name === name);

  it('runs 2 replicas of the image, a valid gateway configuration, and rolls out one new pod before draining an old one', () => {
    assert.equal(spec.replicas, 2);
    assert.ok(matches(spec.selector.matchLabels));
    assert.equal(spec.strategy.type, 'RollingUpdate');
    assert.equal(spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.ok(Number(spec.strategy.rollingUpdate.maxSurge) >= 1);
    assert.equal(container.command, undefined, "the image's command: zerodrop serve");
    const config = gatewayConfig(containerEnv());
    assert.equal(namedPort('http')?.containerPort, config.port, 'the http port is the gateway port');
    assert.equal(spec.template.spec.securityContext?.runAsNonRoot, true);
  });

  it('is ready only while not draining (/health/ready) and alive while it serves (/health)', () => {
    assert.equal(container.readinessProbe?.httpGet?.path, '/health/ready');
    assert.equal(container.livenessProbe?.httpGet?.path, '/health', 'a draining pod must not be restarted');
    assert.equal(container.startupProbe?.httpGet?.path, '/health');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe])
      assert.ok(namedPort(probe!.httpGet!.port), `probe port ${probe!.httpGet!.port} is a container port`);
  });

  it('waits in preStop for the endpoints to drop the pod, then drains on SIGTERM before the grace period ends', () => {
    const preStop = container.lifecycle?.preStop;
    const command = preStop?.exec?.command;
    assert.ok(command && command[0] === 'sleep', 'preStop sleeps (the image has no curl; SIGTERM drains)');
    const preStopS = Number(command[1]);
    assert.ok(preStopS > 0 && preStopS <= 10, `preStop waits a few seconds, not ${command[1]}`);
    const { drainGraceMs } = gatewayConfig(containerEnv());
    const grace = spec.template.spec.terminationGracePeriodSeconds;
    assert.ok(
      grace >= preStopS + drainGraceMs / 1000 + SETTLE_MARGIN_S,
      `terminationGracePeriodSeconds ${grace} covers preStop ${preStopS} s + drain ${drainGraceMs / 1000} s + ${SETTLE_MARGIN_S} s`,
    );
  });

  it('takes every secret from the Secret, whose template holds no value', () => {
    assert.deepEqual(
      Object.values(secret.stringData ?? {}).filter((v) => v !== ''),
      [],
      'the template has keys, not values',
    );
    const refs = container.env.filter((e) => e.valueFrom?.secretKeyRef);
    for (const e of refs) {
      const ref = e.valueFrom!.secretKeyRef!;
      assert.equal(ref.name, secret.metadata.name, `${e.name} reads the gateway Secret`);
      assert.ok(ref.key in (secret.stringData ?? {}), `${e.name}: key ${ref.key} is in the template`);
    }
    for (const name of [
      'ZERODROP_ADMIN_TOKEN',
      'ZERODROP_SERVICE_TOKEN',
      'ZERODROP_DEVICE_SECRETS',
      'REDIS_URL',
    ])
      assert.ok(
        refs.some((e) => e.name === name),
        `${name} comes from the Secret`,
      );
    for (const e of container.env) assert.equal(typeof (e.value ?? ''), 'string', `${e.name} is a string`);
  });

  it('keeps a pod available through voluntary disruptions, and serves the pods through a Service', () => {
    const pdb = one('PodDisruptionBudget').spec as {
      minAvailable?: number;
      selector: { matchLabels: Record<string, string> };
    };
    assert.ok(matches(pdb.selector.matchLabels), 'the budget selects the gateway pods');
    assert.ok(pdb.minAvailable !== undefined && pdb.minAvailable >= 1 && pdb.minAvailable < spec.replicas);
    const service = one('Service').spec as {
      selector: Record<string, string>;
      ports: { name: string; targetPort: string | number }[];
    };
    assert.ok(matches(service.selector), 'the Service selects the gateway pods');
    for (const p of service.ports) assert.ok(namedPort(p.targetPort), `targetPort ${p.targetPort}`);
  });

  it('routes devices through ingress-nginx with cookie affinity and retries an upgrade a draining pod refused', () => {
    const ingress = one('Ingress');
    const config = gatewayConfig(containerEnv());
    const a = ingress.metadata.annotations ?? {};
    const note = (key: string) => a[`nginx.ingress.kubernetes.io/${key}`];
    for (const [k, v] of Object.entries(a)) assert.equal(typeof v, 'string', `annotation ${k} is a string`);
    assert.equal(note('affinity'), 'cookie');
    assert.ok(note('session-cookie-name'), 'names its cookie');
    assert.notEqual(note('session-cookie-name'), config.affinityCookie, "never the gateway's own cookie");
    assert.equal(Number(note('session-cookie-max-age')), config.affinityTtlMs / 1000, 'the runbook: 1 h');
    assert.equal(note('session-cookie-change-on-failure'), 'true');
    assert.match(String(note('proxy-next-upstream')), /\bhttp_503\b/);
    assert.ok(
      Number(note('proxy-read-timeout')) > config.heartbeatTimeoutMs / 1000,
      'an idle device is closed by the gateway, not cut by the ingress',
    );
    const service = one('Service');
    const servicePorts = (service.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
    const paths = (
      ingress.spec as {
        rules: {
          http: { paths: { path: string; backend: { service: { name: string; port: { name: string } } } }[] };
        }[];
      }
    ).rules.flatMap((r) => r.http.paths);
    assert.ok(
      paths.some((p) => p.path === config.wsPath),
      `${config.wsPath} is routed`,
    );
    for (const p of paths) {
      assert.equal(p.backend.service.name, service.metadata.name);
      assert.ok(servicePorts.includes(p.backend.service.port.name));
      assert.ok(!/^\/(admin|metrics)/.test(p.path), `${p.path}: per-pod endpoints stay off the ingress`);
    }
    for (const [k, v] of Object.entries(spec.template.metadata.annotations ?? {}))
      assert.equal(typeof v, 'string', `pod annotation ${k} is a string`);
  });

  it('kustomization.yaml applies every manifest except the Secret template', () => {
    const kustomization = one('Kustomization');
    const expected = files
      .filter((f) => f !== 'kustomization.yaml' && !objects.some((o) => o.file === f && o.kind === 'Secret'))
      .sort();
    assert.deepEqual([...(kustomization.resources ?? [])].sort(), expected);
    assert.ok(existsSync(join(ROOT, K8S, 'README.md')), 'README.md explains affinity and the drain');
  });
});
