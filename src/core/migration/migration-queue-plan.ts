/** Limits the dispatcher keeps on every host (configuration, with defaults). */
export interface MigrationQueueLimits {
  /** Migrations a host may be the source or destination of at once. */
  readonly maxConcurrentPerHost: number;
  /** The migration bandwidth a host's link may carry at once (sum of the migrations' max-bandwidth), MiB/s. */
  readonly bandwidthBudgetMiBps: number;
}

export const DEFAULT_MIGRATION_QUEUE_LIMITS: MigrationQueueLimits = Object.freeze({ maxConcurrentPerHost: 2, bandwidthBudgetMiBps: 2048 });

/** A migration as the budget sees it: the two hosts and the bandwidth it may use. */
export interface MigrationLoad {
  readonly id: string;
  readonly sourceHostId: string;
  readonly destHostId: string;
  readonly bandwidthMiBps: number;
}

export interface QueueCandidate extends MigrationLoad {
  readonly priority: number;
  readonly queuedAt: string;
}

/** Queue order: highest priority first, then first come (then id, so the order is total). */
export function compareQueued(a: Pick<QueueCandidate, 'priority' | 'queuedAt' | 'id'>, b: Pick<QueueCandidate, 'priority' | 'queuedAt' | 'id'>): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.queuedAt !== b.queuedAt) return a.queuedAt < b.queuedAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The bandwidth a migration asking for `wantedMiBps` is given: never more than a host's whole budget, or it could never start. */
export function bandwidthShare(wantedMiBps: number, limits: MigrationQueueLimits): number {
  return Math.min(wantedMiBps, limits.bandwidthBudgetMiBps);
}

/** Why `c` must wait given what is in flight, or undefined when it may start now. */
export function mustWait(inFlight: readonly MigrationLoad[], c: MigrationLoad, limits: MigrationQueueLimits): string | undefined {
  for (const [host, side] of [[c.sourceHostId, 'source'], [c.destHostId, 'destination']] as const) {
    const on = inFlight.filter((m) => m.sourceHostId === host || m.destHostId === host);
    if (on.length >= limits.maxConcurrentPerHost) return `its ${side} host has ${on.length} migrations in flight (limit ${limits.maxConcurrentPerHost})`;
    const used = on.reduce((s, m) => s + m.bandwidthMiBps, 0);
    if (used + c.bandwidthMiBps > limits.bandwidthBudgetMiBps) {
      return `its ${side} host's bandwidth budget is used (${used} of ${limits.bandwidthBudgetMiBps} MiB/s in use, it needs ${c.bandwidthMiBps})`;
    }
  }
  return undefined;
}

export interface QueueStartPlan {
  /** Ids to start now, in this order. */
  readonly start: readonly string[];
  /** The others, each with why it waits. */
  readonly waiting: readonly { readonly id: string; readonly reason: string }[];
}

/**
 * Which queued migrations start now: in queue order, each that fits the
 * limits next to those in flight and those started before it. A migration
 * that must wait does not hold back one behind it between other hosts —
 * the limits are per host, so only contention for the same host orders them.
 */
export function planQueueStarts(queue: readonly QueueCandidate[], inFlight: readonly MigrationLoad[], limits: MigrationQueueLimits): QueueStartPlan {
  const running = [...inFlight];
  const start: string[] = [];
  const waiting: { id: string; reason: string }[] = [];
  const blockedHosts = new Set<string>();
  for (const c of [...queue].sort(compareQueued)) {
    // A higher-priority entry waiting for a host keeps that host for itself: a smaller one behind it must not overtake it forever.
    const held = [c.sourceHostId, c.destHostId].find((h) => blockedHosts.has(h));
    const reason = held !== undefined ? `a migration ahead of it waits for host ${held}` : mustWait(running, c, limits);
    if (reason === undefined) {
      start.push(c.id);
      running.push(c);
    } else {
      waiting.push({ id: c.id, reason });
      blockedHosts.add(c.sourceHostId);
      blockedHosts.add(c.destHostId);
    }
  }
  return { start, waiting };
}
