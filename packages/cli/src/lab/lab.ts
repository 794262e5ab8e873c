/**
 * A lab a drill owns: the production topology (topology.ts) as children of this process, stopped with
 * it. Its gateways are GatewayProcess children whose application reports every device message here
 * over IPC and sends on request, so the drill counts at the application side too. Both instances'
 * ports are chosen up front and nginx names both from the start, as the compose topology does: an
 * instance that is not running yet (the B of a rolling deploy) is one nginx skips until it answers.
 */
import { GatewayProcess } from './gateway-process.js';
import { labNginxConfig, loadNginxRenderer, type NginxRenderer } from './nginx-config.js';
import { NginxProcess } from './nginx-process.js';
import { freePorts } from './ports.js';
import { RedisProcess } from './redis-process.js';
import {
  gatewayEnv,
  type InstanceName,
  instanceUrl,
  LAB_INSTANCES,
  type LabSecrets,
  newSecrets,
} from './topology.js';

export interface LabOptions {
  /** Instances running from the start (default both); the others start with `startInstance`. */
  readonly start?: readonly InstanceName[];
  /** Gateway settings beyond the topology's (e.g. ZERODROP_HEARTBEAT). */
  readonly gatewayEnv?: Readonly<Record<string, string>>;
}

export class Lab {
  readonly redis: RedisProcess;
  readonly nginx: NginxProcess;
  readonly secrets: LabSecrets;
  readonly ports: Readonly<Record<InstanceName, number>>;
  /** Instances started so far, running or not. */
  readonly instances = new Map<InstanceName, GatewayProcess>();
  readonly #renderer: NginxRenderer;
  readonly #gatewayEnv: Readonly<Record<string, string>>;

  private constructor(
    redis: RedisProcess,
    nginx: NginxProcess,
    ports: Record<InstanceName, number>,
    renderer: NginxRenderer,
    options: LabOptions,
  ) {
    this.redis = redis;
    this.nginx = nginx;
    this.secrets = newSecrets();
    this.ports = ports;
    this.#renderer = renderer;
    this.#gatewayEnv = options.gatewayEnv ?? {};
  }

  static async start(options: LabOptions = {}): Promise<Lab> {
    const renderer = await loadNginxRenderer();
    const redis = await RedisProcess.start({ persistence: true });
    let nginx: NginxProcess;
    const [app, replica, edge] = (await freePorts(3)) as [number, number, number];
    const ports = { app, app_replica: replica };
    try {
      const config = labNginxConfig(renderer, upstreamsOf(ports, LAB_INSTANCES));
      nginx = await NginxProcess.start(config, { port: edge });
    } catch (err) {
      await redis.destroy();
      throw err;
    }
    const lab = new Lab(redis, nginx, ports, renderer, options);
    try {
      await Promise.all((options.start ?? LAB_INSTANCES).map((name) => lab.startInstance(name)));
    } catch (err) {
      await lab.stop();
      throw err;
    }
    return lab;
  }

  /** Where devices connect: nginx. */
  get wsUrl(): string {
    return this.nginx.wsUrl();
  }

  instanceUrl(name: InstanceName): string {
    return instanceUrl(this.ports[name]);
  }

  /** Start (or start again) an instance on its port, as `docker-compose up -d <name>` would. */
  async startInstance(name: InstanceName): Promise<GatewayProcess> {
    const previous = this.instances.get(name);
    if (previous?.running) throw new Error(`${name} is already running`);
    const env = gatewayEnv(name, this.ports[name], this.redis.url, this.secrets, this.#gatewayEnv);
    const gateway = await GatewayProcess.start(env);
    this.instances.set(name, gateway);
    return gateway;
  }

  /** The instances running now. */
  running(): GatewayProcess[] {
    return [...this.instances.values()].filter((g) => g.running);
  }

  /** nginx's configuration naming only `names` (scale-down renders it without the removed instance). */
  nginxConfigFor(names: readonly InstanceName[]) {
    return labNginxConfig(this.#renderer, upstreamsOf(this.ports, names));
  }

  /** Stop everything this lab started: gateways (SIGKILL), nginx, Redis, and their directories. */
  async stop(): Promise<void> {
    await Promise.all([...this.instances.values()].map((g) => g.stop('SIGKILL')));
    await this.nginx.stop();
    await this.redis.destroy();
  }
}

function upstreamsOf(ports: Record<InstanceName, number>, names: readonly InstanceName[]) {
  return names.map((name) => ({ name, port: ports[name] }));
}
