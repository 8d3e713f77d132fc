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
