import type { LeaseDetailView, LeaseView } from '../../contract/lease-schemas.js';
import type { LeaseState } from '../../core/leases/lease-state.js';
import type { Store } from '../../store/open-store.js';
import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';

const iso = (s: number): string => new Date(s * 1000).toISOString();

/** Leases as the API shows them: names for owners, hosts and templates (looked up once per batch), times as ISO text. */
export async function leaseViews(store: Store, leases: readonly CapacityLease[]): Promise<LeaseView[]> {
  const users = new Map((await store.users.list()).map((u) => [u.id, u.name]));
  const hosts = new Map((await store.hosts.list()).map((h) => [h.id, h.name]));
  const templates = new Map<string, string>();
  const host = (id: string): string => hosts.get(id) ?? id;
  return Promise.all(leases.map(async (l): Promise<LeaseView> => {
    if (!templates.has(l.templateId)) templates.set(l.templateId, (await store.templates.get(l.templateId).catch(() => undefined))?.name ?? l.templateId);
    const vms = await store.capacityLeases.vms(l.id);
    return {
      id: l.id, owner: users.get(l.ownerId) ?? l.ownerId, type: l.kind, state: l.state as LeaseState, reason: l.reason, preemptible: l.preemptible,
      start: l.startS === null ? null : iso(l.startS), durationS: l.durationS, remainingS: Math.round(l.remainingS * 1000) / 1000,
      count: l.vmCount, vcpus: l.vcpus, memoryMiB: l.memoryMib, template: templates.get(l.templateId) ?? l.templateId,
      plan: {
        placements: l.plan.placements.map((p) => ({ host: host(p.hostId), vms: p.vms })),
        segments: l.plan.segments.map((s) => ({ kind: s.kind, from: iso(s.from), to: iso(s.to) })),
        suspendedOn: l.plan.suspendedOn === undefined ? null : l.plan.suspendedOn.map((p) => ({ host: host(p.hostId), vms: p.vms })),
      },
      vms: vms.map((v) => ({ index: v.idx, vm: v.vmId, host: host(v.hostId) })),
      pendingStep: l.pendingStep?.kind ?? null, createdAt: l.createdAt, updatedAt: l.updatedAt,
    };
  }));
}

export async function leaseDetailView(store: Store, lease: CapacityLease): Promise<LeaseDetailView> {
  const [view] = await leaseViews(store, [lease]);
  return { ...view!, history: await store.capacityLeases.timeline(lease.id) };
}
