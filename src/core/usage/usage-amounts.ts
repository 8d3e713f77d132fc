/** What a VM holds while an interval is open: the figures its usage is charged on. */
export interface UsageAmounts {
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly diskMib: number;
}

const nonNegativeInt = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0);

/**
 * The amounts of a VM from its stored spec: the placement demand (vCPUs,
 * memory, the disk space its disk takes on its host) plus the volumes attached
 * to it (a volume is charged as the VM's disk while attached). Read leniently —
 * a spec without a demand (a record made by hand, a test) holds nothing — so
 * that a state change is never refused over accounting.
 *
 * A disk on the shared datastore takes no host space and its demand says 0:
 * it is not charged (its size is not in the spec).
 */
export function usageAmountsOf(spec: unknown): UsageAmounts {
  const s = (typeof spec === 'object' && spec !== null ? spec : {}) as { demand?: Record<string, unknown>; agent?: { volumes?: unknown } };
  const demand = s.demand ?? {};
  const volumes = Array.isArray(s.agent?.volumes) ? (s.agent.volumes as unknown[]) : [];
  const volumeMib = volumes.reduce<number>((sum, v) => sum + nonNegativeInt((v as { sizeMiB?: unknown } | null)?.sizeMiB), 0);
  return { vcpus: nonNegativeInt(demand['vcpus']), memoryMib: nonNegativeInt(demand['memoryMiB']), diskMib: nonNegativeInt(demand['diskMiB']) + volumeMib };
}

export function sameUsageAmounts(a: UsageAmounts, b: UsageAmounts): boolean {
  return a.vcpus === b.vcpus && a.memoryMib === b.memoryMib && a.diskMib === b.diskMib;
}
