import type { QuotaScope } from '../../core/leases/admission-policy.js';
import type { Store } from '../../store/open-store.js';

/**
 * The limits in force for a user: their own and each of their groups'
 * (over all its members), each with what its users hold outside live
 * leases (their other VMs); the scheduler adds what their live leases hold.
 */
export async function quotaScopesOf(store: Store, ownerId: string): Promise<QuotaScope[]> {
  const scopes: QuotaScope[] = [];
  const own = await store.quotas.limits({ kind: 'user', id: ownerId });
  if (Object.keys(own).length > 0) scopes.push({ name: `user ${(await store.users.get(ownerId)).name}`, limits: own, owners: [ownerId], held: await store.quotas.vmsOutsideLeases([ownerId]) });
  for (const m of (await store.groups.membershipsOf(ownerId)).sort((a, b) => a.groupId.localeCompare(b.groupId))) {
    const limits = await store.quotas.limits({ kind: 'group', id: m.groupId });
    if (Object.keys(limits).length === 0) continue;
    const owners = (await store.groups.members(m.groupId)).map((x) => x.userId);
    scopes.push({ name: `group ${(await store.groups.get(m.groupId)).name}`, limits, owners, held: await store.quotas.vmsOutsideLeases(owners) });
  }
  return scopes;
}
