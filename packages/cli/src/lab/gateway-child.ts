/**
 * A gateway in a child process, configured from its environment as `zerodrop serve` is, whose
 * application forwards every device message to the parent over IPC and resolves only once the message
 * is on its way there, so "handed to the application" is observable by whoever counts (a drill, a
 * test). The parent asks it to `send` over the same channel. Started by GatewayProcess.
 */
import { createGateway, loadConfig } from '@zerodrop/server';

interface SendRequest {
  type: 'send';
  id: number;
  deviceId: string;
  value: unknown;
  binary?: boolean;
}

const toParent = (m: unknown) =>
  new Promise<void>((resolve, reject) =>
    process.send!(m, (err: Error | null) => (err ? reject(err) : resolve())),
  );

const config = loadConfig({ env: process.env });
const gateway = createGateway({
  config,
  app: {
    onMessage: (m) =>
      toParent({
        type: 'message',
        id: m.id,
        deviceId: m.deviceId,
        seq: m.seq,
        binary: m.binary,
        data: m.binary ? Buffer.from(m.data as Uint8Array).toString('base64') : m.data,
      }),
  },
});
const info = await gateway.listen();
await toParent({ type: 'ready', pid: process.pid, ...info, instance: config.instanceId });

process.on('message', (msg: SendRequest) => {
  if (msg.type !== 'send') return;
  const value = msg.binary ? new Uint8Array(Buffer.from(msg.value as string, 'base64')) : msg.value;
  gateway.send(msg.deviceId, value).then(
    (seq) => void toParent({ type: 'sent', id: msg.id, seq }),
    (err: { code?: string; message: string }) =>
      void toParent({ type: 'sent', id: msg.id, error: err.code ?? 'internal', message: err.message }),
  );
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void gateway.drainAndClose(`signal ${signal}`).then(() => process.exit(0));
  });
}
