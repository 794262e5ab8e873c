/**
 * The drain controller: moves every device off this instance without losing a message, for a rolling
 * deploy, a scale-down or a shutdown. `start` makes the instance not ready at once (new upgrades get
 * 503 and are counted), then asks connected devices to reconnect elsewhere in batches with jitter,
 * spread over part of the window, so the other instance is not hit by a storm. At the deadline (or on
 * `complete`) whatever is still connected is closed with a reconnect code once its store writes have
 * settled. `cancel` returns to serving. States: serving → draining → drained (→ serving on cancel).
 *
 * It never touches sessions or the store itself: the gateway gives it the connections to move and a
 * way to settle and close them.
 */

export type DrainState = 'serving' | 'draining' | 'drained';

export interface DrainStatus {
  state: DrainState;
  reason: string | null;
  started_at: string | null;
  deadline: string | null;
  completed_at: string | null;
  max_session_age_seconds: number | null;
  sessions_at_start: number;
  sessions_remaining: number;
  sessions_moved: number;
  reconnect_hints_sent: number;
  upgrades_blocked: number;
  /** Whether devices can resume on another instance (false with the embedded memory store). */
  store_shared: boolean;
  note?: string;
}

/** What the controller may do to the connections it drains. */
export interface DrainTarget {
  /** Connected devices (handshake done or not). */
  connectionCount(): number;
  /** Ask up to `count` devices not yet asked to reconnect within `delayMs`; returns how many were asked. */
  hint(count: number, reason: string, delayMs: () => number): number;
  /** Let store writes settle, then close every remaining connection with a reconnect code. */
  closeRemaining(): Promise<void>;
  readonly storeShared: boolean;
}

export interface DrainOptions {
  /** How many batches the reconnect hints are split into. */
  batches: number;
  /** Hints are spread over this share of the window (the rest is slack before the deadline). */
  spreadShare: number;
  /** …but over no more than this (ms), so a long window does not make a drain slow. */
  maxSpreadMs: number;
  now?: () => number;
  random?: () => number;
  onChange?: (event: string, status: DrainStatus) => void;
}

export class DrainController {
  #state: DrainState = 'serving';
  #reason: string | null = null;
  #startedAt = 0;
  #deadline = 0;
  #completedAt = 0;
  #maxAge: number | null = null;
  #atStart = 0;
  #hints = 0;
  #blocked = 0;
  #timers: NodeJS.Timeout[] = [];
  #completing: Promise<void> | undefined;
  readonly #target: DrainTarget;
  readonly #options: Required<Omit<DrainOptions, 'onChange'>> & Pick<DrainOptions, 'onChange'>;

  constructor(target: DrainTarget, options: DrainOptions) {
    this.#target = target;
    this.#options = { now: Date.now, random: Math.random, ...options };
  }

  get state(): DrainState {
    return this.#state;
  }

  /** New upgrades are refused while draining or drained. */
  get accepting(): boolean {
    return this.#state === 'serving';
  }

  /** An upgrade was refused because of the drain. */
  countBlocked(): void {
    this.#blocked++;
  }

  start(reason: string, maxSessionAgeSeconds: number): DrainStatus {
    this.#clearTimers();
    const now = this.#options.now();
    this.#state = 'draining';
    this.#reason = reason;
    this.#startedAt = now;
    this.#completedAt = 0;
    this.#maxAge = maxSessionAgeSeconds;
    this.#deadline = now + maxSessionAgeSeconds * 1000;
    this.#atStart = this.#target.connectionCount();
    this.#hints = 0;
    this.#blocked = 0;
    this.#completing = undefined;
    this.#schedule(maxSessionAgeSeconds * 1000);
    this.#emit('drain_started');
    return this.status();
  }

  /** Close whatever is left (after its writes settled) and become drained. */
  complete(): Promise<DrainStatus> {
    if (this.#state === 'serving') {
      this.#reason = this.#reason ?? 'complete without start';
      this.#startedAt = this.#options.now();
      this.#atStart = this.#target.connectionCount();
      this.#state = 'draining';
    }
    this.#clearTimers();
    this.#completing ??= this.#target.closeRemaining().then(() => {
      if (this.#state !== 'draining') return;
      this.#state = 'drained';
      this.#completedAt = this.#options.now();
      this.#emit('drain_completed');
    });
    return this.#completing.then(() => this.status());
  }

  cancel(): DrainStatus {
    this.#clearTimers();
    this.#completing = undefined;
    this.#state = 'serving';
    this.#emit('drain_cancelled');
    return this.status();
  }

  /** Resolves once drained (used by SIGTERM handling). */
  async whenDrained(pollMs = 50): Promise<void> {
    while (this.#state === 'draining') await new Promise((r) => setTimeout(r, pollMs));
  }

  status(): DrainStatus {
    const remaining = this.#target.connectionCount();
    const iso = (t: number) => (t ? new Date(t).toISOString() : null);
    const s: DrainStatus = {
      state: this.#state,
      reason: this.#reason,
      started_at: iso(this.#startedAt),
      deadline: this.#state === 'serving' ? null : iso(this.#deadline),
      completed_at: iso(this.#completedAt),
      max_session_age_seconds: this.#maxAge,
      sessions_at_start: this.#atStart,
      sessions_remaining: remaining,
      sessions_moved: Math.max(0, this.#atStart - remaining),
      reconnect_hints_sent: this.#hints,
      upgrades_blocked: this.#blocked,
      store_shared: this.#target.storeShared,
    };
    if (!this.#target.storeShared) {
      s.note =
        'embedded memory store: sessions cannot resume on another instance; devices reconnect here after the drain is cancelled or the process restarts, and get a fresh session after a restart';
    }
    return s;
  }

  /** Hints in batches over the spread, then the deadline. */
  #schedule(windowMs: number): void {
    const { batches, spreadShare, maxSpreadMs, random } = this.#options;
    const spread = Math.min(windowMs * spreadShare, maxSpreadMs);
    const step = spread / batches;
    const total = Math.max(1, this.#target.connectionCount());
    const perBatch = Math.ceil(total / batches);
    for (let i = 0; i < batches; i++) {
      this.#timers.push(
        setTimeout(() => {
          // The last batch takes everyone still here (devices that connected meanwhile, too).
          const count = i === batches - 1 ? Number.MAX_SAFE_INTEGER : perBatch;
          this.#hints += this.#target.hint(count, this.#reason ?? 'drain', () => Math.floor(random() * step));
        }, i * step),
      );
    }
    this.#timers.push(setTimeout(() => void this.complete(), windowMs));
    this.#timers.push(
      // Everyone left (or nobody was here): the drain is done, no need to wait out the window.
      setInterval(() => {
        if (this.#state === 'draining' && this.#target.connectionCount() === 0) void this.complete();
      }, 100),
    );
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
  }

  #emit(event: string): void {
    this.#options.onChange?.(event, this.status());
  }

  /** Stop every timer (gateway shutdown). */
  dispose(): void {
    this.#clearTimers();
  }
}
