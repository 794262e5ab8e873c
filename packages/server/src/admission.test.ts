import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { getJson, parsePrometheus, startGateway, waitFor } from './test-support/harness.js';

describe('capacity', () => {
  const sockets: WebSocket[] = [];
  after(() => {
    for (const ws of sockets) ws.terminate();
  });

  it('with the default limit, the 1001st connection gets 503 with Retry-After and is counted', async () => {
    const g = await startGateway({ handshakeTimeoutMs: 60_000, maxPendingHandshakes: 5000 });
    try {
      assert.equal(g.gateway.config.maxConnections, 1000);
      for (let batch = 0; batch < 10; batch++) {
        const opened = Array.from({ length: 100 }, () => new WebSocket(g.info.wsUrl));
        sockets.push(...opened);
        await Promise.all(opened.map((ws) => once(ws, 'open')));
      }
      await waitFor(() => g.gateway.connections() === 1000, '1000 connections');
      const refused = new WebSocket(g.info.wsUrl);
      refused.on('error', () => {});
      const [, res] = (await once(refused, 'unexpected-response')) as [
        unknown,
        import('node:http').IncomingMessage,
      ];
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '5');
      const body = await new Promise<string>((resolve) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve(text));
      });
      assert.equal(JSON.parse(body).error.code, 'over_capacity');

      const { body: m } = await getJson<{
        ws_metrics: { ws_active: number; ws_upgrades_rejected: Record<string, number> };
      }>(`${g.info.url}/api/v1/esp32/metrics`);
      assert.equal(m.ws_metrics.ws_active, 1000);
      assert.equal(m.ws_metrics.ws_upgrades_rejected.over_capacity, 1);
      const prom = parsePrometheus(await (await fetch(`${g.info.url}/metrics`)).text());
      assert.equal(prom.get('ws_upgrades_rejected_total{reason="over_capacity"}'), 1);

      // A freed slot admits the next device.
      sockets.pop()?.terminate();
      await waitFor(() => g.gateway.connections() === 999, 'a freed slot');
      const next = new WebSocket(g.info.wsUrl);
      sockets.push(next);
      await once(next, 'open');
    } finally {
      for (const ws of sockets) ws.terminate();
      await g.close();
    }
  });
});
