import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { PlacementError } from './placement-error.js';

/**
 * The capacity slice of a host: what the store keeps per host and updates in
 * the transaction that binds a VM. `reserved*` is the sum of the reservations
 * of the VMs bound to the host (not what they use right now — that is `load`).
 */
export interface HostCapacity {
  readonly id: string;
  /** For messages: operators know hosts by name, not id. */
  readonly name?: string;
  readonly totalCpus: number;
  readonly totalMemoryMiB: number;
  readonly totalDiskMiB: number;
  readonly reservedCpus: number;
  readonly reservedMemoryMiB: number;
  readonly reservedDiskMiB: number;
  /**
   * vCPUs per physical CPU on this host, when its operator set one: it wins
   * over the policy's default, since only the operator knows what the
   * host's guests do with their CPUs (tiny test VMs idle, databases do not).
   */
  readonly cpuOvercommit?: number;
}

/** The CPU overcommit that applies to `host`: its own, else the policy's default. */
export function hostCpuOvercommit(host: HostCapacity, defaultOvercommit = 1): number {
  return host.cpuOvercommit ?? defaultOvercommit;
}

/** What one VM reserves on its host. */
export interface CapacityDemand {
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Disk that lands on the host's local datastore (0 when the disks live on shared storage). */
  readonly diskMiB: number;
}

export interface FreeCapacity {
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskMiB: number;
}

// Overcommitted capacities are fractional (3 CPUs × 1.1); without a little
// slack 3.3000000000000003 - 3.3 style noise would refuse a VM that fits.
const EPSILON = 1e-9;

/**
 * Free capacity; may be negative when the overcommit ratio was lowered after
 * VMs were placed. Only CPU is overcommitted: memory and disk are hard limits.
 * `cpuOvercommit` is the default for a host that has none of its own.
 */
export function freeCapacity(host: HostCapacity, cpuOvercommit = 1): FreeCapacity {
  return {
    cpus: host.totalCpus * hostCpuOvercommit(host, cpuOvercommit) - host.reservedCpus,
    memoryMiB: host.totalMemoryMiB - host.reservedMemoryMiB,
    diskMiB: host.totalDiskMiB - host.reservedDiskMiB,
  };
}

/** A number for a reason text: at most two decimals, never negative. */
function amount(n: number): string {
  return String(Math.max(0, Number(n.toFixed(2))));
}

/**
 * Why `demand` does not fit on `host` (the first resource that falls short,
 * in the order CPU, memory, disk), or undefined when it fits.
 */
export function capacityShortfall(host: HostCapacity, demand: CapacityDemand, cpuOvercommit = 1): string | undefined {
  const free = freeCapacity(host, cpuOvercommit);
  if (demand.vcpus > free.cpus + EPSILON) return `needs ${demand.vcpus} vCPU${demand.vcpus === 1 ? '' : 's'}, ${amount(free.cpus)} free`;
  if (demand.memoryMiB > free.memoryMiB + EPSILON) return `needs ${demand.memoryMiB} MiB memory, ${amount(free.memoryMiB)} free`;
  if (demand.diskMiB > free.diskMiB + EPSILON) return `needs ${demand.diskMiB} MiB disk, ${amount(free.diskMiB)} free`;
  return undefined;
}

/** Whether `demand` fits on `host`: capacityShortfall's answer without the reason, and without allocating (placement asks this of every host). */
export function fitsCapacity(host: HostCapacity, demand: CapacityDemand, cpuOvercommit = 1): boolean {
  return demand.vcpus <= host.totalCpus * hostCpuOvercommit(host, cpuOvercommit) - host.reservedCpus + EPSILON
    && demand.memoryMiB <= host.totalMemoryMiB - host.reservedMemoryMiB + EPSILON
    && demand.diskMiB <= host.totalDiskMiB - host.reservedDiskMiB + EPSILON;
}

// A NaN or negative demand would poison the host's counters for good.
function checkDemand(demand: CapacityDemand): void {
  const issues: FieldIssue[] = [];
  for (const field of ['vcpus', 'memoryMiB', 'diskMiB'] as const) {
    const v = demand[field];
    if (!Number.isFinite(v) || v < 0) issues.push({ field, message: `must be a finite number >= 0, got ${v}` });
  }
  if (issues.length > 0) throw new ValidationError('capacity demand', issues);
}

/**
 * The host with `demand` added to its reservations. Checks the fit again —
 * the store calls this inside the transaction that binds the VM, so a host
 * filled by a concurrent placement is caught here.
 * @throws PlacementError when the demand no longer fits.
 */
export function reserve<H extends HostCapacity>(host: H, demand: CapacityDemand, options: { readonly cpuOvercommit?: number } = {}): H {
  checkDemand(demand);
  const reason = capacityShortfall(host, demand, options.cpuOvercommit ?? 1);
  if (reason !== undefined) throw new PlacementError(`host ${host.name ?? host.id} cannot take the VM: ${reason}`, { [host.id]: reason });
  return {
    ...host,
    reservedCpus: host.reservedCpus + demand.vcpus,
    reservedMemoryMiB: host.reservedMemoryMiB + demand.memoryMiB,
    reservedDiskMiB: host.reservedDiskMiB + demand.diskMiB,
  };
}

/**
 * The host with `demand` removed from its reservations. Clamps at zero rather
 * than throwing: a release runs while a VM is being torn down or reconciled,
 * where refusing would leave the VM stuck; a double release cannot push the
 * counters below what is really free.
 */
export function release<H extends HostCapacity>(host: H, demand: CapacityDemand): H {
  checkDemand(demand);
  return {
    ...host,
    reservedCpus: Math.max(0, host.reservedCpus - demand.vcpus),
    reservedMemoryMiB: Math.max(0, host.reservedMemoryMiB - demand.memoryMiB),
    reservedDiskMiB: Math.max(0, host.reservedDiskMiB - demand.diskMiB),
  };
}
