/** A VM's stored state history, as much of it as says when it entered a state. */
export interface StateChange {
  readonly fromState: string | null;
  readonly toState: string;
  /** ISO 8601. */
  readonly at: string;
}

/**
 * When a pending VM entered `pending` (ms since the epoch): the newest
 * change into it from another state (or its creation), in history order —
 * the pending → pending writes of its waiting reason do not restart the
 * wait. Undefined when the history has none or its time does not parse.
 */
export function pendingSince(history: readonly StateChange[]): number | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i]!;
    if (h.toState === 'pending' && h.fromState !== 'pending') {
      const t = Date.parse(h.at);
      return Number.isNaN(t) ? undefined : t;
    }
  }
  return undefined;
}
