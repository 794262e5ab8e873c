/**
 * A TCP proxy on a free loopback port in front of a gateway, so a test can cut every connection
 * through it at once, both directions, without a close frame: what a device sees when Wi-Fi drops.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Destroy every open connection (a hard cut); new connections still go through. */
  cutAll(): number;
  /** Point new connections at another target port. */
  retarget(port: number): void;
  close(): Promise<void>;
}

/** Connect `inbound` to a loopback port, both ways; the pair is tracked in `pairs` until either side ends. */
function splice(inbound: Socket, port: number, pairs: Set<[Socket, Socket]>): void {
  const outbound = createConnection({ port, host: '127.0.0.1' });
  const pair: [Socket, Socket] = [inbound, outbound];
  pairs.add(pair);
  const end = () => {
    pairs.delete(pair);
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', end).on('close', end);
  outbound.on('error', end).on('close', end);
  inbound.pipe(outbound);
  outbound.pipe(inbound);
}

/** Destroy every tracked pair at once (a hard cut); returns how many there were. */
function cutAll(pairs: Set<[Socket, Socket]>): number {
  const n = pairs.size;
  for (const [a, b] of pairs) {
    a.destroy();
    b.destroy();
  }
  pairs.clear();
  return n;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((inbound) => {
    splice(inbound, target, pairs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    cutAll: () => cutAll(pairs),
    retarget(p) {
      target = p;
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Upstream {
  readonly name: string;
  readonly port: number;
  /** Readiness URL: an upstream answering anything but 200 gets no new connections. */
  readonly readyUrl: string;
}

export interface Balancer {
  readonly port: number;
  /** How many connections went to each upstream, by name. */
  readonly routed: Map<string, number>;
  /** Connections sent to an upstream since `markDraining(name)`. */
  routedWhileDraining(name: string): number;
  /** The test says a drain of `name` is about to start. */
  markDraining(name: string): void;
  /** A new instance joins the pool. */
  add(upstream: Upstream): void;
  cutAll(): number;
  close(): Promise<void>;
}

/**
 * A readiness-aware TCP load balancer, as Kubernetes or nginx with health checks behave: it polls
 * each upstream's readiness every `pollMs` and spreads new connections round-robin over the ready
 * ones. Between a drain starting and the next poll it still sends devices to the draining instance,
 * which refuses them with 503, exactly the window `ws_upgrades_blocked_during_drain` counts.
 */
export async function startBalancer(initial: Upstream[], pollMs = 100): Promise<Balancer> {
  const upstreams = [...initial];
  const ready = new Map(upstreams.map((u) => [u.name, true]));
  const routed = new Map(upstreams.map((u) => [u.name, 0]));
  const afterDrain = new Map(upstreams.map((u) => [u.name, 0]));
  const drainingNow = new Map(upstreams.map((u) => [u.name, false]));
  let next = 0;
  let polling = true;
  const poll = async () => {
    while (polling) {
      await Promise.all(
        upstreams.map(async (u) => {
          const r = await fetch(u.readyUrl).then(
            (res) => res.status === 200,
            () => false,
          );
          ready.set(u.name, r);
        }),
      );
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const poller = poll();
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((inbound) => {
    const candidates = upstreams.filter((u) => ready.get(u.name));
    const pool = candidates.length > 0 ? candidates : upstreams;
    const target = pool[next++ % pool.length]!;
    routed.set(target.name, routed.get(target.name)! + 1);
    if (drainingNow.get(target.name)) afterDrain.set(target.name, afterDrain.get(target.name)! + 1);
    splice(inbound, target.port, pairs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    routed,
    routedWhileDraining: (name) => afterDrain.get(name) ?? 0,
    cutAll: () => cutAll(pairs),
    async close() {
      polling = false;
      await poller;
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    markDraining(name: string) {
      drainingNow.set(name, true);
    },
    add(upstream: Upstream) {
      ready.set(upstream.name, true);
      routed.set(upstream.name, 0);
      afterDrain.set(upstream.name, 0);
      drainingNow.set(upstream.name, false);
      upstreams.push(upstream);
    },
  };
}
