import type { Logger } from 'pino';
import type { Store } from '../store/open-store.js';

export interface EventRetention {
  /** Events older than this go. */
  readonly maxAgeMs: number;
  /** At most this many events are kept (the newest). */
  readonly maxRows: number;
  /** How often to prune while running. */
  readonly intervalMs: number;
}

export const DEFAULT_EVENT_RETENTION: EventRetention = Object.freeze({ maxAgeMs: 7 * 24 * 3600_000, maxRows: 100_000, intervalMs: 10 * 60_000 });

/** Keeps the event table bounded: pruned once at start and then every `intervalMs`. */
export class EventPruner {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly retention: EventRetention,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async pruneNow(): Promise<number> {
    const dropped = await this.store.events.prune({ olderThan: new Date(this.now() - this.retention.maxAgeMs).toISOString(), keepNewest: this.retention.maxRows });
    if (dropped > 0) this.logger.info({ dropped }, 'events pruned');
    return dropped;
  }

  start(): void {
    this.#timer = setInterval(() => {
      // A failed prune (the store busy or briefly gone) is retried on the next tick; it must not bring the controller down.
      this.pruneNow().catch((err: unknown) => this.logger.warn({ err }, 'event pruning failed'));
    }, this.retention.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
