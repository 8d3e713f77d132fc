import type { DrsCluster, DrsHost, DrsVm } from '../core/drs/drs-cluster.js';
import { compileRequirements, type HostPredicate } from '../core/placement/requirements-expression.js';
import { hostViewOf } from './host-view-of.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vm-row.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { MetricsHistory } from './metrics-history.js';

/** How far back a VM's CPU samples are averaged: a minute smooths one busy sample without hiding a real change. */
export const DRS_CPU_WINDOW_MS = 60_000;

/**
 * The rebalancer's input from the store and the metrics history. A host that
 * is not `enabled` or is on standby is ineligible; a VM that is not running
 * or has volumes attached (live migration moves its own disk only) is held.
 * Without samples a VM counts as CPU-idle using its whole memory allocation,
 * the figure that surely holds. A VM with placement requirements may go only
 * to the hosts they admit (the migration's pre-check would refuse the rest);
 * with several clusters, every VM only to hosts of its own host's cluster.
 */
export function drsClusterView(o: {
  readonly hosts: readonly Host[];
  readonly vms: readonly Vm[];
  readonly history: MetricsHistory;
  readonly lastMigrations: ReadonlyMap<string, number>;
  readonly cpuOvercommit: number;
  readonly now: number;
}): DrsCluster {
  const hosts: DrsHost[] = o.hosts.map((h) => ({
    id: h.id, name: h.name, cpus: h.total.cpus, memoryMiB: h.total.memoryMib, vcpuLimit: h.total.cpus * (h.cpuOvercommit ?? o.cpuOvercommit),
    ineligible: h.standbySince !== null ? 'on standby' : h.degraded !== null ? `degraded: ${h.degraded}` : h.state !== 'enabled' ? h.state : undefined,
  }));
  const views = o.hosts.map(hostViewOf);
  const admitted = new Map<string, ReadonlySet<string>>();
  /** The hosts an expression admits, worked out once per distinct expression. */
  const allowedBy = (requirements: string): ReadonlySet<string> => {
    let ids = admitted.get(requirements);
    if (ids === undefined) {
      let meets: HostPredicate;
      try {
        meets = compileRequirements(requirements);
      } catch {
        // Stored expressions were checked when the VM was made; one that no longer compiles admits no host rather than every host.
        meets = () => false;
      }
      ids = new Set(views.filter((h) => meets(h, { cpuOvercommit: o.cpuOvercommit })).map((h) => h.id));
      admitted.set(requirements, ids);
    }
    return ids;
  };
  // Clusters (issue 18): a VM is balanced within its host's cluster, as a chosen migration destination is.
  const clusterOf = new Map(o.hosts.map((h) => [h.id, h.cluster]));
  const several = new Set(clusterOf.values()).size > 1;
  const inCluster = (hostId: string): ReadonlySet<string> | undefined =>
    several ? new Set(o.hosts.filter((h) => h.cluster === clusterOf.get(hostId)).map((h) => h.id)) : undefined;
  const allowedFor = (hostId: string, requirements: string | undefined): ReadonlySet<string> | undefined => {
    const cluster = inCluster(hostId);
    const admits = requirements !== undefined ? allowedBy(requirements) : undefined;
    if (cluster === undefined || admits === undefined) return cluster ?? admits;
    return new Set([...admits].filter((id) => cluster.has(id)));
  };
  const vms: DrsVm[] = [];
  for (const vm of o.vms) {
    if (vm.hostId === null || vm.state === 'terminated') continue;
    const spec = vm.spec as unknown as ControllerVmSpec;
    const samples = o.history.vm(vm.id, o.now - DRS_CPU_WINDOW_MS).samples;
    const cpu = samples.length > 0 ? samples.reduce((a, s) => a + s.cpuPercent, 0) / samples.length / 100 : 0;
    const rss = samples.at(-1)?.rssBytes;
    const volumes = spec.agent?.volumes ?? [];
    vms.push({
      id: vm.id, name: vm.name, hostId: vm.hostId, vcpus: spec.demand.vcpus, memoryMiB: spec.demand.memoryMiB,
      cpuUse: cpu, memoryUseMiB: rss !== undefined ? rss / 1024 / 1024 : spec.demand.memoryMiB,
      lastMigratedAt: o.lastMigrations.get(vm.id),
      unmovable: vm.state !== 'running' ? `is ${vm.state}` : volumes.length > 0 ? 'has volumes attached' : undefined,
      allowedHostIds: allowedFor(vm.hostId, spec.demand.requirements),
    });
  }
  return { hosts, vms, now: o.now };
}
