/**
 * The runbook's production topology, as the lab runs it on one machine: one Redis with RDB snapshots,
 * two gateway instances `app` and `app_replica` sharing it, nginx in front. This module holds what
 * every lab has in common, attached (drills) or detached (`lab up`): the instance names, fresh secrets,
 * and each instance's environment, exactly the variables `zerodrop serve` reads in production.
 */
import { randomBytes } from 'node:crypto';

export const LAB_INSTANCES = ['app', 'app_replica'] as const;
export type InstanceName = (typeof LAB_INSTANCES)[number];

export interface LabSecrets {
  /** ZERODROP_ADMIN_TOKEN of both instances (the drain API). */
  readonly adminToken: string;
  /** ZERODROP_SERVICE_TOKEN of both instances (the push API). */
  readonly serviceToken: string;
  /** ZERODROP_DEVICE_SECRETS: devices authenticate with tokens minted from it. */
  readonly deviceSecret: string;
}

const secret = () => randomBytes(24).toString('base64url');

/** New random secrets: every lab has its own, and none is ever a default. */
export function newSecrets(): LabSecrets {
  return { adminToken: secret(), serviceToken: secret(), deviceSecret: secret() };
}

/**
 * One instance's environment: its port on 127.0.0.1, the shared Redis, its name and the secrets, plus
 * `extra` settings (a drill's shorter heartbeat).
 */
export function gatewayEnv(
  name: InstanceName,
  port: number,
  redisUrl: string,
  secrets: LabSecrets,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    ...extra,
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    ZERODROP_INSTANCE_ID: name,
    ZERODROP_ADMIN_TOKEN: secrets.adminToken,
    ZERODROP_SERVICE_TOKEN: secrets.serviceToken,
    ZERODROP_DEVICE_SECRETS: secrets.deviceSecret,
  };
}

export const instanceUrl = (port: number) => `http://127.0.0.1:${port}`;
