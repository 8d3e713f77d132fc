import type { Placement } from '../../core/leases/enactment.js';
import type { LeaseRequest } from '../../core/leases/lease.js';
import type { LeaseRecord } from '../../core/leases/lease-record.js';
import type { LeaseState } from '../../core/leases/lease-state.js';
import type { CapacityLease, CapacityLeasePlan, HostPlacement } from '../../store/repositories/capacity-leases-repository.js';

/** The scheduler's request for a stored lease (times in epoch seconds). */
export function leaseRequestOf(l: CapacityLease): LeaseRequest {
  return {
    id: l.id, kind: l.kind, submit: l.submitS, ...(l.startS !== null ? { start: l.startS } : {}), duration: l.durationS,
    vms: l.vmCount, shape: { cpus: l.vcpus, memoryMiB: l.memoryMib }, preemptible: l.preemptible, owner: l.ownerId,
  };
}

/**
 * Scheduler host numbers ↔ store host ids: the scheduler counts hosts 0…n-1
 * in the order it was built with; the store keeps ids, so a plan survives a
 * restart that finds the hosts in another order.
 */
export class HostNumbers {
  constructor(readonly ids: readonly string[]) {}

  toStore(ps: readonly Placement[]): HostPlacement[] {
    return ps.map((p) => ({ hostId: this.ids[p.host] ?? `#${p.host}`, vms: p.vms }));
  }

  /** Undefined when a host of the plan is no longer one the scheduler has. */
  fromStore(ps: readonly HostPlacement[]): Placement[] | undefined {
    const out: Placement[] = [];
    for (const p of ps) {
      const host = this.ids.indexOf(p.hostId);
      if (host < 0) return undefined;
      out.push({ host, vms: p.vms });
    }
    return out;
  }
}

/** The scheduler's record of a stored lease, or undefined when its plan names a host that is gone. */
export function leaseRecordOf(l: CapacityLease, hosts: HostNumbers): LeaseRecord | undefined {
  const placements = hosts.fromStore(l.plan.placements);
  const suspendedOn = l.plan.suspendedOn === undefined ? undefined : hosts.fromStore(l.plan.suspendedOn);
  if (placements === undefined || (l.plan.suspendedOn !== undefined && suspendedOn === undefined)) return undefined;
  return {
    req: leaseRequestOf(l), state: l.state as LeaseState, ...(l.reason !== null ? { reason: l.reason } : {}),
    placements, segments: [...l.plan.segments], cursor: l.plan.cursor, remainingS: l.remainingS,
    ...(suspendedOn !== undefined ? { suspendedOn } : {}), seq: l.seq, suspensions: 0, migrations: 0, handoffs: 0, requeues: 0, version: 0,
  };
}

/** The mutable part of a stored lease, as the scheduler has it. */
export interface LeaseSnapshot {
  readonly state: string;
  readonly reason: string | null;
  readonly remainingS: number;
  readonly plan: CapacityLeasePlan;
}

/** What the store keeps of a record: compared as JSON to tell what changed since the last write. */
export function snapshotOf(r: Readonly<LeaseRecord>, hosts: HostNumbers): LeaseSnapshot {
  return {
    state: r.state, reason: r.reason ?? null, remainingS: r.remainingS,
    plan: {
      placements: hosts.toStore(r.placements), segments: r.segments.map((s) => ({ kind: s.kind, from: s.from, to: s.to })), cursor: r.cursor,
      ...(r.suspendedOn !== undefined ? { suspendedOn: hosts.toStore(r.suspendedOn) } : {}),
    },
  };
}

/** One host id per VM, in VM order: placements expanded. */
export function hostPerVm(ps: readonly HostPlacement[]): string[] {
  return ps.flatMap((p) => Array.from({ length: p.vms }, () => p.hostId));
}
