import { filterHost } from '../core/placement/host-filters.js';
import { filterContextOf } from '../core/placement/place-vm.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { hostViewOf } from './host-view-of.js';

/**
 * Why `host` cannot take a VM of `demand` now — every placement filter, as
 * the scheduler applies them (state, maintenance, standby, health, CPU model,
 * networks, datastore, capacity, requirements) — or undefined when it can.
 * An admin's chosen host (`host` at create) must pass them all: choosing the
 * host skips the ranking, never a filter — but standby: a host consolidation
 * emptied is woken for a VM deployed on it by name, as placement wakes one
 * when nothing else fits (`drs-wake.ts`).
 */
export function deployHostRefusal(host: Host, demand: VmDemand, policy: PlacementPolicy): string | undefined {
  const reason = filterHost({ ...hostViewOf(host), standby: false }, demand, filterContextOf(demand, policy));
  if (reason === 'requirements not met' && demand.requirements !== undefined) return `it does not meet the VM's requirements (${demand.requirements})`;
  return reason;
}
