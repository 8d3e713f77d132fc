import { capacityShortfall } from '../core/placement/host-capacity.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { CapacityCheck } from '../store/repositories/capacity-check.js';
import { hostViewOf } from './host-view-of.js';

/**
 * The capacity re-check inside a reserving transaction (binding a VM,
 * reserving a migration's destination): the same rule as placement — core's
 * capacity with the policy's CPU overcommit — on the freshly locked host row.
 */
export function bindCheckFor(policy: PlacementPolicy): CapacityCheck {
  return (host, d) => {
    if (host.state !== 'enabled') return `host ${host.name} is ${host.state}`;
    if (host.maintenance !== null) return `host ${host.name} is in maintenance`;
    return capacityShortfall(hostViewOf(host), { vcpus: d.cpus, memoryMiB: d.memoryMib, diskMiB: d.diskMib }, policy.cpuOvercommit) ?? true;
  };
}
