import { placeVm } from '../placement/place-vm.js';
import type { HostView } from '../placement/host-view.js';
import type { PlacementPolicy } from '../placement/placement-policy.js';
import type { VmDemand } from '../placement/vm-demand.js';
import { reserve } from '../placement/host-capacity.js';

/** A VM that was bound to the fenced host, as the planner needs it. */
export interface HaVmFacts {
  readonly id: string;
  readonly ha: boolean;
  /** Where its disk is: only `shared` disks can be reached from another host. */
  readonly datastore: string;
  readonly state: string;
  readonly demand: VmDemand;
  /** Whether a journal row of this incident exists for it already (decided once: never twice). */
  readonly decided: boolean;
}

export type HaDecision =
  | { readonly vmId: string; readonly action: 'restart'; readonly targetHostId: string; readonly reason: string }
  | { readonly vmId: string; readonly action: 'lost'; readonly reason: string };

// States in which the VM was (or may have been) running on the fenced host: those are restarted. A VM powered off,
// suspected or stopped had no guest running: it stays as it is, bound to its host.
const WAS_RUNNING = new Set(['unknown', 'running', 'boot']);

/**
 * Which VMs of a fenced host restart where, and which are lost: HA VMs with
 * their disk on the shared datastore are placed on the other hosts (each
 * placement takes its room, so the next VM sees it gone); VMs without HA, or
 * with a local disk only the fenced host holds, are lost until it returns;
 * a VM that could not be placed is lost too, with the placement's reason.
 * VMs decided already in this incident are skipped: a decision is made once.
 */
export function planHaRestarts(fencedHostId: string, vms: readonly HaVmFacts[], hosts: readonly HostView[], policy: PlacementPolicy): HaDecision[] {
  let others = hosts.filter((h) => h.id !== fencedHostId);
  const out: HaDecision[] = [];
  for (const vm of [...vms].sort((a, b) => a.id.localeCompare(b.id))) {
    if (vm.decided || !WAS_RUNNING.has(vm.state)) continue;
    if (!vm.ha) {
      out.push({ vmId: vm.id, action: 'lost', reason: 'HA is off for this VM: it waits for its host to return' });
      continue;
    }
    if (vm.datastore !== 'shared') {
      out.push({ vmId: vm.id, action: 'lost', reason: 'its disk is on the fenced host\'s local datastore: lost until the host returns' });
      continue;
    }
    const placed = placeVm(vm.demand, others, policy);
    if (placed.hostId === undefined) {
      out.push({ vmId: vm.id, action: 'lost', reason: `no other host can run it: ${placed.summary}` });
      continue;
    }
    const target = placed.hostId;
    out.push({ vmId: vm.id, action: 'restart', targetHostId: target, reason: `restarted on another host after its host was fenced` });
    others = others.map((h) => (h.id === target ? reserve(h, vm.demand, { cpuOvercommit: policy.cpuOvercommit }) : h));
  }
  return out;
}
