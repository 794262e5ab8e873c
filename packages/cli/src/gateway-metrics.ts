/**
 * Reading `GET /api/v1/esp32/metrics` from one or several instances at once (the runbook watches both
 * instances during a scale-down). An instance that cannot be read is a result, not an exception, so
 * one instance going away does not hide the others.
 */
import type { GatewayTarget } from './gateway-options.js';
import { GatewayError, type GatewayResponse, requestJson } from './http.js';

export const METRICS_PATH = '/api/v1/esp32/metrics';

/** The runbook's metrics document; the CLI reads these fields and shows every other one as is. */
export interface MetricsDocument {
  readonly instance?: string;
  readonly timestamp?: string;
  readonly ws_metrics?: Readonly<Record<string, unknown>>;
  readonly resume_store_metrics?: Readonly<Record<string, unknown>>;
}

export type MetricsResult =
  | { readonly url: string; readonly ok: true; readonly response: GatewayResponse<MetricsDocument> }
  | { readonly url: string; readonly ok: false; readonly error: GatewayError };

export async function fetchMetrics(
  urls: readonly string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<MetricsResult[]> {
  return Promise.all(
    urls.map(async (url): Promise<MetricsResult> => {
      const target: GatewayTarget = { url, timeoutMs };
      try {
        const response = await requestJson<MetricsDocument>(target, 'GET', METRICS_PATH, { signal });
        return { url, ok: true, response };
      } catch (err) {
        if (err instanceof GatewayError) return { url, ok: false, error: err };
        throw err;
      }
    }),
  );
}
