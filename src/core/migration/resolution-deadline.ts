/** How long a resolution waits for an agent to answer again before it gives up (the VM then needs an operator). */
export const RESOLVE_PATIENCE_MS = 10 * 60_000;

/**
 * The room a roll-back gets when it starts at or past the migration's own
 * timeout (the timeout is often what started it): one cancel and one release.
 */
export const ABORT_GRACE_MS = 60_000;

export interface ResolutionClock {
  /** When the migration started (its record's startedAt). */
  readonly startedAtMs: number;
  /** The migration's own timeout (its policy's timeoutS). */
  readonly timeoutS: number;
  /** When this resolution began deciding. */
  readonly resolvingSinceMs: number;
  /** Whether the decision is a roll-back to the source. */
  readonly aborting: boolean;
}

/**
 * Until when a resolution may keep deciding again before it gives up. A
 * roll-back is bounded by the migration's own timeout (with a grace when it
 * began at or past it): the VM runs on its source meanwhile, and a record
 * left `aborting` past its timeout keeps the VM `migrating` and the
 * destination's capacity reserved for nothing. Anything else waits longer,
 * as the destination may hold the only copy.
 */
export function resolutionDeadline(c: ResolutionClock): number {
  const patience = c.resolvingSinceMs + RESOLVE_PATIENCE_MS;
  if (!c.aborting) return patience;
  return Math.min(patience, Math.max(c.startedAtMs + c.timeoutS * 1000, c.resolvingSinceMs + ABORT_GRACE_MS));
}
