/**
 * deploy/nginx: the committed configuration is the template's rendering for production and passes
 * `nginx -t`; a real nginx routes by X-Affinity-Key, then the affinity cookie, then round-robin; an
 * operator's X-Zerodrop-Instance reaches exactly the instance named; /nginx_status answers internal
 * addresses only. The instances here are stubs that name themselves: what a gateway does with the
 * request is test/nginx.test.ts's subject.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type NginxConfigOptions, PRODUCTION_NGINX, renderNginxConfig } from '../deploy/nginx/render.js';
import { NginxProcess, type NginxRuntime } from '../packages/server/src/test-support/nginx-process.js';

const committed = readFileSync(new URL('../deploy/nginx/nginx.conf', import.meta.url), 'utf8');

/** The production rendering with loopback addresses, and its pid, logs and temp files in `runtime`. */
function onLoopback(runtime: NginxRuntime, ports: number[], extra: Partial<NginxConfigOptions> = {}) {
  return renderNginxConfig({
    ...PRODUCTION_NGINX,
    listen: `127.0.0.1:${runtime.port}`,
    instances: PRODUCTION_NGINX.instances.map((i, k) => ({ name: i.name, address: `127.0.0.1:${ports[k]}` })),
    paths: runtime.paths,
    ...extra,
  });
}

describe('nginx configuration', () => {
  it('deploy/nginx/nginx.conf is the rendering of the template for the production topology', () => {
    assert.equal(
      committed,
      renderNginxConfig(PRODUCTION_NGINX),
      'render again: node --import tsx deploy/nginx/render.ts > deploy/nginx/nginx.conf',
    );
  });

  // The committed file names the compose hosts `app` and `app_replica`, which resolve only inside
  // compose, and nginx resolves upstream hosts while it reads the file: `nginx -t` on it here would
  // fail on DNS alone. So nginx checks the same rendering with exactly three kinds of values swapped
  // (upstream addresses, the listen address, pid/log/temp paths), and the test proves that swapping
  // them back gives the committed file byte for byte: nothing else in what nginx checked differs.
  it('nginx -t passes on the committed file with only its addresses and paths swapped for loopback ones', async () => {
    const ports = [18001, 18002];
    let checked = '';
    let runtime: NginxRuntime | undefined;
    const result = await NginxProcess.check((rt) => {
      runtime = rt;
      checked = onLoopback(rt, ports);
      return checked;
    });
    assert.ok(result.ok, result.output);
    const p = PRODUCTION_NGINX.paths;
    const back = checked
      .replaceAll(`listen 127.0.0.1:${runtime!.port};`, `listen ${PRODUCTION_NGINX.listen};`)
      .replaceAll(`127.0.0.1:${ports[0]}`, PRODUCTION_NGINX.instances[0]!.address)
      .replaceAll(`127.0.0.1:${ports[1]}`, PRODUCTION_NGINX.instances[1]!.address)
      .replaceAll(runtime!.paths.pid, p.pid)
      .replaceAll(runtime!.paths.errorLog, p.errorLog)
      .replaceAll(runtime!.paths.accessLog, p.accessLog)
      .replaceAll(runtime!.paths.tempDir, p.tempDir);
    assert.equal(back, committed);
  });

  it('has what the runbook relies on', () => {
    for (const needle of [
      'map $http_upgrade $connection_upgrade',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $connection_upgrade;',
      'proxy_read_timeout 75s;',
      'proxy_next_upstream error timeout http_503;',
      'proxy_next_upstream_tries 2;',
      'worker_shutdown_timeout 30s;',
      'location = /nginx_status',
      'stub_status;',
      'server app_replica:8000 backup',
      'server app:8000 backup',
    ]) {
      assert.ok(committed.includes(needle), `nginx.conf has ${needle}`);
    }
    const readTimeout = Number(/proxy_read_timeout (\d+)s;/.exec(committed)![1]);
    assert.ok(readTimeout > 45, 'nginx never cuts a connection the gateway still considers alive (45 s)');
  });

  it('refuses options that would change the structure of the file', () => {
    const bad: Partial<NginxConfigOptions>[] = [
      { instances: [{ name: 'app', address: 'app:8000; }' }] },
      { instances: [] },
      {
        instances: [
          { name: 'app-1', address: 'a:1' },
          { name: 'app_1', address: 'b:1' },
        ],
      },
      { affinityCookie: 'zd affinity' },
      { statusAllow: ['all; allow 0.0.0.0/0'] },
      { workerShutdownTimeout: '30 s' },
      { listen: '80 default_server' },
    ];
    for (const options of bad) {
      assert.throws(() => renderNginxConfig({ ...PRODUCTION_NGINX, ...options }), /invalid nginx option/);
    }
  });
});

describe('nginx routing', () => {
  const stubs: { name: string; server: Server; port: number; refuse: boolean }[] = [];
  let nginx: NginxProcess;

  before(async () => {
    for (const name of ['app', 'app_replica']) {
      const stub = { name, server: createServer(), port: 0, refuse: false };
      stub.server.on('request', (req, res) => {
        req.resume();
        res.writeHead(stub.refuse ? 503 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ instance: name, url: req.url, method: req.method }));
      });
      await new Promise<void>((resolve) => stub.server.listen(0, '127.0.0.1', resolve));
      stub.port = (stub.server.address() as { port: number }).port;
      stubs.push(stub);
    }
    nginx = await NginxProcess.start((rt) =>
      onLoopback(
        rt,
        stubs.map((s) => s.port),
        { user: rt.user, daemon: false, workerProcesses: 1, statusAllow: ['127.0.0.1'] },
      ),
    );
  });
  after(async () => {
    await nginx?.stop();
    for (const s of stubs) await new Promise((resolve) => s.server.close(resolve));
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET') {
    const res = await fetch(`${nginx.url}${path}`, { headers, method });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as { instance?: string; error?: { code: string } } };
  }

  it('an upgrade path request goes to the instance X-Affinity-Key names, else the cookie, else round-robin', async () => {
    for (let i = 0; i < 4; i++) {
      assert.equal((await get('/ws', { 'x-affinity-key': 'app_replica' })).body.instance, 'app_replica');
      assert.equal((await get('/ws', { 'x-affinity-key': 'app' })).body.instance, 'app');
      assert.equal(
        (await get('/ws', { cookie: 'theme=dark; zd_affinity=app_replica' })).body.instance,
        'app_replica',
      );
      assert.equal((await get('/ws', { cookie: 'zd_affinity=app' })).body.instance, 'app');
      assert.equal(
        (await get('/ws', { 'x-affinity-key': 'app', cookie: 'zd_affinity=app_replica' })).body.instance,
        'app',
        'the header wins over the cookie',
      );
    }
    const unkeyed = new Set<string>();
    for (let i = 0; i < 4; i++) {
      unkeyed.add((await get('/ws')).body.instance!);
      unkeyed.add((await get('/ws', { 'x-affinity-key': 'scaled_away' })).body.instance!);
    }
    assert.deepEqual([...unkeyed].sort(), ['app', 'app_replica'], 'no key, or an unknown one: the pool');
  });

  it('an operator reaches the instance X-Zerodrop-Instance names, and only that one', async () => {
    for (const name of ['app', 'app_replica']) {
      for (const path of [
        '/health',
        '/health/ready',
        '/metrics',
        '/api/v1/esp32/metrics',
        '/admin/drain/status',
      ]) {
        assert.equal(
          (await get(path, { 'x-zerodrop-instance': name })).body.instance,
          name,
          `${path} on ${name}`,
        );
      }
    }
    const admin = await get('/admin/drain/status');
    assert.equal(admin.status, 400);
    assert.equal(
      admin.body.error?.code,
      'instance_required',
      'the admin API never goes to whichever instance',
    );
    const unknown = await get('/metrics', { 'x-zerodrop-instance': 'app_3' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, 'unknown_instance');

    stubs[1]!.refuse = true;
    try {
      const pinned = await get('/health/ready', { 'x-zerodrop-instance': 'app_replica' });
      assert.equal(pinned.status, 503, 'a pinned request is never retried elsewhere');
      assert.equal(pinned.body.instance, 'app_replica');
      const posted = await get('/admin/drain/start', { 'x-zerodrop-instance': 'app_replica' }, 'POST');
      assert.equal(posted.body.instance, 'app_replica');
      assert.equal(
        (await get('/health')).body.instance,
        'app',
        'unpinned: the refusal is retried on the other',
      );
    } finally {
      stubs[1]!.refuse = false;
    }
  });

  it('/nginx_status answers internal addresses and refuses the others', async () => {
    const res = await fetch(`${nginx.url}/nginx_status`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^Active connections: \d+/);
    // 127.0.0.2 is loopback too, but not in this rendering's allow list (127.0.0.1 only).
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: nginx.port, path: '/nginx_status', localAddress: '127.0.0.2' },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
    assert.equal((await get('/wp-login.php')).status, 404);
  });

  it('a reload naming a host that does not resolve is refused and the running configuration stays', async () => {
    const ports = stubs.map((s) => s.port);
    const options = {
      user: nginx.runtime.user,
      daemon: false,
      workerProcesses: 1,
      statusAllow: ['127.0.0.1'],
    };
    await assert.rejects(
      nginx.reload((rt) =>
        onLoopback(rt, ports, { ...options, instances: [{ name: 'app', address: 'app.invalid:8000' }] }),
      ),
      /host not found in upstream/,
    );
    assert.equal((await get('/ws', { 'x-affinity-key': 'app_replica' })).body.instance, 'app_replica');
    await nginx.reload((rt) => onLoopback(rt, ports, options));
  });
});
