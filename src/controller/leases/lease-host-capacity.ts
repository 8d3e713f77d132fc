import type { VmShape } from '../../core/leases/lease.js';
import type { Store } from '../../store/open-store.js';
import type { Host } from '../../store/repositories/hosts-repository.js';

/**
 * A host as the lease scheduler books it: its vCPUs as placement counts them —
 * physical CPUs × the host's CPU overcommit, else the controller's default
 * (`hostCpuOvercommit` in core/placement/host-capacity.ts) — and its memory as
 * it is (never overcommitted). Booking physical CPUs instead planned an AR on
 * a host that placement then refused ("needs 1 vCPU, 0 free"), its VMs left
 * pending through the window it had been promised, when the operator had
 * lowered the overcommit below 1; and on `nubo up` (4 per core) it preempted
 * best-effort leases while the host still had room.
 */
export function leaseHostCapacity(h: Host, defaultOvercommit = 1): Host {
  return { ...h, total: { ...h.total, cpus: h.total.cpus * (h.cpuOvercommit ?? defaultOvercommit) } };
}

/** What the scheduler's table was built over: a host set or capacity that differs from it rebuilds the table. */
export function leaseHostsKey(hosts: readonly Host[]): string {
  return hosts.map((h) => `${h.id}:${h.total.cpus}x${h.total.memoryMib}`).join();
}

/**
 * The hosts leases are planned on: enabled ones, and those whose heartbeat is late (a loaded host must not fail every
 * lease planned on it); each with the vCPUs placement gives it (leaseHostCapacity), in a stable order.
 */
export async function leasePlanningHosts(store: Store, defaultOvercommit: number | undefined): Promise<Host[]> {
  return (await store.hosts.list()).filter((h) => h.state === 'enabled' || h.state === 'error').sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
    .map((h) => leaseHostCapacity(h, defaultOvercommit));
}

/** What VMs outside live leases reserve on each host, by host id (booked on the lease table from now on). */
export async function externalVmUse(store: Store): Promise<Map<string, VmShape>> {
  const mine = await store.capacityLeases.liveVmIds();
  const used = new Map<string, VmShape>();
  for (const vm of await store.vms.list()) {
    if (vm.hostId === null || mine.has(vm.id) || (vm.reserved.cpus === 0 && vm.reserved.memoryMib === 0)) continue;
    const u = used.get(vm.hostId) ?? { cpus: 0, memoryMiB: 0 };
    used.set(vm.hostId, { cpus: u.cpus + vm.reserved.cpus, memoryMiB: u.memoryMiB + vm.reserved.memoryMib });
  }
  return used;
}
