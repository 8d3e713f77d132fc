/** One VM of a host to evacuate, with what the planner predicted for it (live) or nothing (cold). */
export interface EvacuationItem {
  readonly id: string;
  readonly kind: 'live' | 'cold';
  readonly predictedTotalMs?: number | undefined;
  readonly converges?: boolean | undefined;
}

/**
 * The order a host's VMs leave it: live migrations predicted to converge,
 * shortest first (the most VMs off the host soonest, and a long one cannot
 * hold the short ones back within the per-host limit); then those that may
 * not converge (they need the convergence policy's levers, and the most
 * bandwidth); then the cold ones (nothing runs, nothing is at risk). Ties
 * keep the given order.
 */
export function evacuationOrder<T extends EvacuationItem>(items: readonly T[]): T[] {
  const rank = (i: EvacuationItem): number => (i.kind === 'cold' ? 2 : i.converges === false ? 1 : 0);
  return items
    .map((item, at) => ({ item, at }))
    .sort((a, b) => rank(a.item) - rank(b.item) || (a.item.predictedTotalMs ?? Infinity) - (b.item.predictedTotalMs ?? Infinity) || a.at - b.at)
    .map((x) => x.item);
}
