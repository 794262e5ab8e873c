/**
 * `zerodrop serve`: run the gateway with the configuration from flags and environment. SIGTERM and
 * SIGINT start a drain (ZERODROP_DRAIN_GRACE): devices are asked to move to another instance, what is
 * left is closed once its store writes settled, and the process exits 0.
 */
import {
  createGateway,
  createTeddyApp,
  describeSettings,
  type GatewayApp,
  loadConfig,
} from '@zerodrop/server';

function help(): string {
  const rows = describeSettings().map(
    (s) => `  ${`${s.flag}${s.default ? ` (${s.default})` : ''}`.padEnd(34)} ${s.env.padEnd(28)} ${s.help}`,
  );
  return `Usage: zerodrop serve [options]

Runs the gateway. Every option can also be set by its environment variable.

  ${'option (default)'.padEnd(34)} ${'environment'.padEnd(28)} meaning
${rows.join('\n')}`;
}

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(help());
    return 0;
  }
  const config = loadConfig({ argv, env: process.env });
  let app: GatewayApp = {};
  const gateway = createGateway({
    config,
    app: {
      onMessage: (m) => app.onMessage?.(m),
      onSession: (e) => app.onSession?.(e),
    },
  });
  if (config.demo) app = createTeddyApp(gateway.send);
  const info = await gateway.listen();
  console.log(
    `zerodrop gateway listening: devices connect to ${info.wsUrl} (health ${info.url}/health, metrics ${info.url}/api/v1/esp32/metrics)`,
  );

  await new Promise<void>((resolve) => {
    // What `docker stop` and Kubernetes send: drain (devices move to another instance), then exit 0.
    const stop = (signal: string) => {
      gateway.log.info({ event: 'signal', signal, grace_ms: config.drainGraceMs });
      void gateway.drainAndClose(`signal ${signal}`).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
