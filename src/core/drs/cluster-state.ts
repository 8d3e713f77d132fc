import { byId, type DrsCluster, type DrsHost, type DrsVm } from './drs-cluster.js';
import type { DrsPolicy } from './drs-policy.js';
import { addVm, emptyLoad, type HostLoad } from './host-loads.js';

/** The cluster as the planners work on it: eligible hosts sorted by id, their loads, and which VMs may move. */
export interface ClusterState {
  readonly hosts: readonly DrsHost[];
  readonly hostById: ReadonlyMap<string, DrsHost>;
  readonly loads: Map<string, HostLoad>;
  readonly vmById: ReadonlyMap<string, DrsVm>;
  /** VMs on eligible hosts that may be moved now, sorted by id. */
  readonly movable: readonly DrsVm[];
  readonly held: { vmId: string; vmName: string; reason: string }[];
}

export function clusterState(cluster: DrsCluster, policy: DrsPolicy): ClusterState {
  const hosts = cluster.hosts.filter((h) => h.ineligible === undefined).sort(byId);
  const hostById = new Map(hosts.map((h) => [h.id, h]));
  const loads = new Map(hosts.map((h) => [h.id, emptyLoad()]));
  const vms = [...cluster.vms].sort(byId);
  const movable: DrsVm[] = [];
  const held: ClusterState['held'] = [];
  const minAgeMs = policy.minMinutesBetweenMoves * 60_000;
  for (const vm of vms) {
    const load = loads.get(vm.hostId);
    if (!load) continue;
    addVm(load, vm, 1);
    if (vm.unmovable !== undefined) held.push({ vmId: vm.id, vmName: vm.name, reason: vm.unmovable });
    else if (vm.lastMigratedAt !== undefined && cluster.now - vm.lastMigratedAt < minAgeMs) {
      const ago = Math.floor((cluster.now - vm.lastMigratedAt) / 60_000);
      held.push({ vmId: vm.id, vmName: vm.name, reason: `migrated ${ago} min ago (not again within ${policy.minMinutesBetweenMoves} min)` });
    } else movable.push(vm);
  }
  return { hosts, hostById, loads, vmById: new Map(vms.map((v) => [v.id, v])), movable, held };
}
