/** A member as the scale-in choice sees it. */
export interface ScalingMember {
  readonly vmId: string;
  /** When it was made (ms since the epoch). */
  readonly createdAt: number;
  /** Its CPU use in percent of its vCPUs; undefined without samples. */
  readonly cpu: number | undefined;
}

/**
 * Which `count` members go on scale-in: the least loaded first (a member
 * without samples counts as idle), then the newest (it holds the least
 * state, e.g. a cold cache), then by id, so the choice is deterministic.
 */
export function chooseScaleIn(members: readonly ScalingMember[], count: number): string[] {
  return [...members]
    .sort((a, b) => (a.cpu ?? 0) - (b.cpu ?? 0) || b.createdAt - a.createdAt || (a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : 0))
    .slice(0, Math.max(0, count))
    .map((m) => m.vmId);
}

/** The `cpu` metric: the members' mean, over those with samples; undefined when none has any. */
export function meanCpu(members: readonly ScalingMember[]): number | undefined {
  const known = members.flatMap((m) => (m.cpu === undefined ? [] : [m.cpu]));
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
}
