import type { ClusterState } from './cluster-state.js';
import type { DrsHost, DrsVm } from './drs-cluster.js';
import type { DrsMove } from './drs-plan.js';
import type { DrsPolicy } from './drs-policy.js';
import { addVm, fitsHost, percent, useOf, type HostLoad } from './host-loads.js';
import { clusterShares, hostTerm, type ClusterShares } from './imbalance.js';

/**
 * A move must lower the sum of the hosts' squared deviations by at least
 * this much: below it, a migration's cost buys nothing measurable. Measured
 * on the sum, not on σ: a move changes two hosts' terms, so its effect on σ
 * shrinks with the number of hosts, and a gain floor on σ stopped a
 * 100-host plan after one move (bench/drs.ts).
 */
const MIN_SUM_GAIN = 1e-4;

export interface BalanceResult {
  readonly moves: readonly DrsMove[];
  readonly before: number;
  readonly after: number;
  readonly summary: string;
}

/** A host's term with `cpu`/`mem` more (or less) measured use, without building a load. */
function termWith(host: DrsHost, load: HostLoad, cpu: number, mem: number, s: ClusterShares): number {
  const c = host.cpus > 0 ? (load.cpuUse + cpu) / host.cpus : 0;
  const m = host.memoryMiB > 0 ? (load.memoryUseMiB + mem) / host.memoryMiB : 0;
  return ((c - s.cpu) ** 2 + (m - s.memory) ** 2) / 2;
}

function describe(host: DrsHost, load: HostLoad): string {
  const u = useOf(host, load);
  return `${host.name} (CPU ${percent(u.cpu)}, memory ${percent(u.memory)})`;
}

/**
 * Greedy steepest descent: each step takes the one live migration that lowers
 * the imbalance most, until it is at or below the threshold, no move gains
 * enough, or the plan holds `maxMoves`. Starts only above threshold +
 * hysteresis. A VM moves at most once per plan. Ties go to the lowest VM id,
 * then the lowest host id (the loops' order), so the same cluster always gets
 * the same plan.
 */
export function planBalance(state: ClusterState, policy: DrsPolicy): BalanceResult {
  const { hosts, hostById, loads } = state;
  const n = hosts.length;
  const shares = clusterShares(hosts, loads);
  const terms = new Map(hosts.map((h) => [h.id, hostTerm(h, loads.get(h.id)!, shares)]));
  let sum = [...terms.values()].reduce((a, b) => a + b, 0);
  const sigma = (): number => (n > 0 ? Math.sqrt(Math.max(0, sum) / n) : 0);
  const before = sigma();
  const start = policy.threshold + policy.hysteresis;
  if (before <= start) {
    return { moves: [], before, after: before, summary: `imbalance ${before.toFixed(3)} is at or below threshold ${policy.threshold} + hysteresis ${policy.hysteresis}: nothing to do` };
  }
  const moves: DrsMove[] = [];
  const moved = new Set<string>();
  while (moves.length < policy.maxMoves && sigma() > policy.threshold) {
    let best: { vm: DrsVm; to: DrsHost; sum: number } | undefined;
    for (const vm of state.movable) {
      if (moved.has(vm.id)) continue;
      const from = hostById.get(vm.hostId)!;
      const fromLoad = loads.get(from.id)!;
      const withoutVm = sum - terms.get(from.id)! + termWith(from, fromLoad, -vm.cpuUse, -vm.memoryUseMiB, shares);
      for (const to of hosts) {
        if (to.id === from.id) continue;
        const toLoad = loads.get(to.id)!;
        if (!fitsHost(to, toLoad, vm)) continue;
        const next = withoutVm - terms.get(to.id)! + termWith(to, toLoad, vm.cpuUse, vm.memoryUseMiB, shares);
        if (best === undefined || next < best.sum - 1e-12) best = { vm, to, sum: next };
      }
    }
    if (best === undefined || sum - best.sum < MIN_SUM_GAIN) break;
    const { vm, to } = best;
    const from = hostById.get(vm.hostId)!;
    const fromLoad = loads.get(from.id)!;
    const toLoad = loads.get(to.id)!;
    const was = `${describe(from, fromLoad)} → ${describe(to, toLoad)}`;
    const sigmaBefore = sigma();
    addVm(fromLoad, vm, -1);
    addVm(toLoad, vm, 1);
    terms.set(from.id, hostTerm(from, fromLoad, shares));
    terms.set(to.id, hostTerm(to, toLoad, shares));
    sum = [...terms.values()].reduce((a, b) => a + b, 0);
    moved.add(vm.id);
    const after = sigma();
    moves.push({
      vmId: vm.id, vmName: vm.name, fromHostId: from.id, toHostId: to.id, imbalanceAfter: after,
      reason: `${was}: the largest cut in imbalance, ${sigmaBefore.toFixed(3)} → ${after.toFixed(3)} (cluster CPU ${percent(shares.cpu)}, memory ${percent(shares.memory)})`,
    });
  }
  const after = sigma();
  const why = after <= policy.threshold ? `reaches threshold ${policy.threshold}`
    : moves.length >= policy.maxMoves ? `stops at maxMoves ${policy.maxMoves}`
      : 'stops: no further move lowers the imbalance enough (capacity, or VMs held)';
  return { moves, before, after, summary: `imbalance ${before.toFixed(3)} > ${start.toFixed(3)}: ${moves.length} move(s) to ${after.toFixed(3)}; ${why}` };
}
