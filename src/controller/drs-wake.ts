import { placeVm, type PlacementResult } from '../core/placement/place-vm.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { VmDemand } from '../core/placement/vm-demand.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { DrsRepository } from '../store/repositories/drs-repository.js';
import { storeContextOf } from './drs-service.js';
import { hostViewOf } from './host-view-of.js';

/**
 * Placement with standby hosts as the last resort: the hosts that take VMs
 * first; only when none fits, the standby ones too — and the one chosen is
 * woken (its standby cleared, with an event) before the VM is bound to it.
 * nubo has no power control over a host, so waking is taking it back into
 * scheduling: its agent kept running.
 */
export async function placeWakingStandby(store: Store, demand: VmDemand, hosts: readonly Host[], policy: PlacementPolicy): Promise<PlacementResult> {
  const placed = placeVm(demand, hosts.map(hostViewOf), policy);
  if (placed.hostId !== undefined || !hosts.some((h) => h.standbySince !== null)) return placed;
  const awake = placeVm(demand, hosts.map((h) => ({ ...hostViewOf(h), standby: false })), policy);
  if (awake.hostId === undefined) return placed;
  await wakeStandbyHost(store, awake.hostId, 'woken: no other host fits a VM to place');
  return awake;
}

/** Takes a standby host back into scheduling (its standby cleared, with an event). */
export async function wakeStandbyHost(store: Store, hostId: string, reason: string): Promise<void> {
  await new DrsRepository(storeContextOf(store)).setStandby(hostId, null, reason);
}
