import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import type { Store } from '../store/open-store.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { deployHostRefusal } from './deploy-host.js';
import { placeWakingStandby, wakeStandbyHost } from './drs-wake.js';
import type { SchedulingHosts } from './scheduling-hosts.js';

export type HostChoice = { readonly hostId: string } | { readonly hostId: undefined; readonly summary: string };

/**
 * Where a VM to schedule goes: the admin's chosen host (`host` at create; the
 * first placement only) if it passes every placement filter now, else the
 * scheduler's choice — from its copy of the hosts, read afresh before the VM
 * is made to wait, with standby hosts as the last resort.
 */
export async function chooseVmHost(o: { readonly store: Store; readonly hosts: SchedulingHosts; readonly policy: PlacementPolicy }, demand: VmDemand, chosen: string | undefined): Promise<HostChoice> {
  if (chosen !== undefined) return placeOnChosen(o, chosen, demand);
  const current = await o.hosts.current();
  let placed: HostChoice = current.index.place(demand);
  // A VM waits only on hosts read afresh: the copy may have missed room freed since.
  if (placed.hostId === undefined && !current.fresh) placed = (await o.hosts.refresh()).place(demand);
  // Standby hosts (emptied by consolidation) are the last resort: one is woken only when no other host fits.
  if (placed.hostId === undefined) placed = await placeWakingStandby(o.store, demand, await o.store.hosts.list(), o.policy);
  return placed;
}

/** The chosen host, read afresh, if it passes every placement filter now (woken if on standby); else why not (the VM waits, as for any placement). */
async function placeOnChosen(o: { readonly store: Store; readonly policy: PlacementPolicy }, hostId: string, demand: VmDemand): Promise<HostChoice> {
  const host = await findOrUndefined(o.store.hosts.get(hostId));
  const refusal = host === undefined ? 'it no longer exists' : deployHostRefusal(host, demand, o.policy);
  if (refusal !== undefined) return { hostId: undefined, summary: `the host chosen for it, ${host?.name ?? hostId}, cannot take it: ${refusal}` };
  if (host !== undefined && host.standbySince !== null) await wakeStandbyHost(o.store, hostId, 'woken: an admin deployed a VM on it');
  return { hostId };
}
