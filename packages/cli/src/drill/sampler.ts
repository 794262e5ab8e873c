/**
 * The gateway's side of the story: each instance's `ws_metrics` read once a second during a drill, the
 * latest reading kept per instance. An instance that is killed or stopped takes its counters with it
 * (docs/OPERATIONS.md: verify before you stop), so a drill reads it once more right before, and its
 * figures from then on are a lower bound: they are flagged as read before it stopped.
 */
import { fetchMetrics } from '../gateway-metrics.js';

/** The ws_metrics fields a drill compares with its own counts. */
export interface InstanceReading {
  readonly ws_active: number;
  readonly ws_reconnects: number;
  readonly ws_resumes: number;
  readonly resume_failures: number;
  readonly dropped_messages: number;
  readonly rtt_p95_ms: number;
  readonly rtt_samples: number;
  readonly messages_device_to_server: number;
  readonly messages_server_to_device: number;
  readonly eventloop_lag_p99_ms: number;
}

export interface InstanceTarget {
  readonly name: string;
  readonly url: string;
}

export class MetricsSampler {
  /** Latest reading per instance name. */
  readonly latest = new Map<string, InstanceReading>();
  /** Instances whose latest reading was taken before they stopped (their counters left with them). */
  readonly stopped = new Set<string>();
  /** The highest event-loop lag p99 each instance reported: how loaded it was at its worst. */
  readonly worstLagMs = new Map<string, number>();

  /** Read every instance in `targets` now; one that cannot be read keeps its previous reading. */
  async read(targets: readonly InstanceTarget[]): Promise<void> {
    const results = await fetchMetrics(
      targets.map((t) => t.url),
      2000,
    );
    results.forEach((r, i) => {
      const ws = r.ok ? r.response.body.ws_metrics : undefined;
      if (!ws) return;
      const reading = ws as unknown as InstanceReading;
      const name = targets[i]!.name;
      this.latest.set(name, reading);
      this.worstLagMs.set(name, Math.max(this.worstLagMs.get(name) ?? 0, reading.eventloop_lag_p99_ms));
    });
  }

  /** Read `target` one last time before it is killed or stopped. */
  async lastReading(target: InstanceTarget): Promise<void> {
    await this.read([target]);
    this.stopped.add(target.name);
  }

  /** Sum of one counter over every instance ever read. */
  total(field: keyof InstanceReading): number {
    let sum = 0;
    for (const r of this.latest.values()) sum += r[field];
    return sum;
  }
}
