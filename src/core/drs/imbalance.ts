import type { DrsHost } from './drs-cluster.js';
import { emptyLoad, useOf, type HostLoad } from './host-loads.js';

/**
 * The cluster's imbalance: how far the hosts' use strays from the cluster's
 * own share, √(mean over hosts of ((c − C)² + (m − M)²) / 2) with c, m a
 * host's measured CPU and memory use as shares of its capacity and C, M the
 * cluster's (total use / total capacity). 0: every host as busy as the
 * cluster; heterogeneous hosts are compared by share, not by absolute use.
 * The cluster's shares do not change when VMs move between its hosts, so a
 * move changes two hosts' terms only (what the planner's search relies on).
 */
export interface ClusterShares {
  readonly cpu: number;
  readonly memory: number;
}

export function clusterShares(hosts: readonly DrsHost[], loads: ReadonlyMap<string, HostLoad>): ClusterShares {
  let cpuUse = 0, cpus = 0, memUse = 0, mem = 0;
  for (const h of hosts) {
    const l = loads.get(h.id);
    cpuUse += l?.cpuUse ?? 0;
    memUse += l?.memoryUseMiB ?? 0;
    cpus += h.cpus;
    mem += h.memoryMiB;
  }
  return { cpu: cpus > 0 ? cpuUse / cpus : 0, memory: mem > 0 ? memUse / mem : 0 };
}

/** One host's term of the sum. */
export function hostTerm(host: DrsHost, load: HostLoad, shares: ClusterShares): number {
  const u = useOf(host, load);
  return ((u.cpu - shares.cpu) ** 2 + (u.memory - shares.memory) ** 2) / 2;
}

export function imbalanceOf(hosts: readonly DrsHost[], loads: ReadonlyMap<string, HostLoad>, shares = clusterShares(hosts, loads)): number {
  if (hosts.length === 0) return 0;
  let sum = 0;
  for (const h of hosts) {
    sum += hostTerm(h, loads.get(h.id) ?? emptyLoad(), shares);
  }
  return Math.sqrt(sum / hosts.length);
}
