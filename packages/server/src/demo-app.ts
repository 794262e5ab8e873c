/**
 * The demo application `npm start` runs: a teddy bear that answers. Text messages get a reply, binary
 * messages (audio chunks) get a receipt with their size, so a newcomer sees traffic in both directions.
 */
import type { GatewayApp } from './app.js';

export function createTeddyApp(send: (deviceId: string, value: unknown) => Promise<number>): GatewayApp {
  return {
    async onMessage(m) {
      if (m.binary) {
        await send(m.deviceId, { type: 'audio_received', seq: m.seq, bytes: (m.data as Uint8Array).length });
        return;
      }
      const text =
        typeof m.data === 'object' && m.data !== null && 'text' in m.data
          ? String(m.data.text)
          : JSON.stringify(m.data);
      await send(m.deviceId, {
        type: 'reply',
        seq: m.seq,
        text: `Teddy heard you say: ${text.slice(0, 200)}`,
      });
    },
  };
}
