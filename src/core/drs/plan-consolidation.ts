import type { ClusterState } from './cluster-state.js';
import { byId, type DrsHost, type DrsVm } from './drs-cluster.js';
import type { DrsMove, DrsStandbyHost } from './drs-plan.js';
import type { DrsPolicy } from './drs-policy.js';
import { addVm, fitsHost, useOf, type HostLoad } from './host-loads.js';
import { imbalanceOf } from './imbalance.js';

export interface ConsolidationResult {
  readonly moves: readonly DrsMove[];
  readonly standby: readonly DrsStandbyHost[];
  readonly summary: string;
}

const share = (h: DrsHost, l: HostLoad): number => {
  const u = useOf(h, l);
  return (u.cpu + u.memory) / 2;
};

/**
 * Packs VMs to empty whole hosts: the least used host first, each of its VMs
 * (largest memory first) to the fullest other active host that fits its
 * allocation and stays within `maxHostUse` of measured CPU and memory. A host
 * is emptied only when all its VMs fit and the moves stay within maxMoves;
 * otherwise it is skipped and the next one tried. One host is always kept.
 * A host that takes VMs in the plan is not emptied later in it: its VMs
 * would move twice (the cost limit allows one move per VM).
 */
export function planConsolidation(state: ClusterState, policy: DrsPolicy): ConsolidationResult {
  const { loads } = state;
  const held = new Set(state.held.map((h) => h.vmId));
  const active = new Set(state.hosts.map((h) => h.id));
  const order = [...state.hosts].sort((a, b) => share(a, loads.get(a.id)!) - share(b, loads.get(b.id)!) || byId(a, b));
  const moves: DrsMove[] = [];
  const standby: DrsStandbyHost[] = [];
  const skipped: string[] = [];
  const receiving = new Set<string>();
  for (const cand of order) {
    if (active.size <= 1) break;
    if (receiving.has(cand.id)) {
      skipped.push(`${cand.name}: takes VMs in this plan`);
      continue;
    }
    const load = loads.get(cand.id)!;
    const vms = load.vmIds.map((id) => state.vmById.get(id)!).sort((a, b) => b.memoryMiB - a.memoryMiB || byId(a, b));
    if (vms.some((v) => held.has(v.id))) {
      skipped.push(`${cand.name}: holds a VM that may not move now`);
      continue;
    }
    if (moves.length + vms.length > policy.maxMoves) {
      skipped.push(`${cand.name}: ${vms.length} moves would pass maxMoves ${policy.maxMoves}`);
      continue;
    }
    const trial = new Map<string, HostLoad>();
    const loadOf = (h: DrsHost): HostLoad => {
      let l = trial.get(h.id);
      if (!l) {
        const o = loads.get(h.id)!;
        trial.set(h.id, (l = { ...o, vmIds: [...o.vmIds] }));
      }
      return l;
    };
    const dests = state.hosts.filter((h) => h.id !== cand.id && active.has(h.id));
    const placed: { vm: DrsVm; to: DrsHost }[] = [];
    for (const vm of vms) {
      let best: DrsHost | undefined;
      for (const h of dests) {
        const l = loadOf(h);
        if (!fitsHost(h, l, vm)) continue;
        if ((l.cpuUse + vm.cpuUse) > policy.maxHostUse * h.cpus || (l.memoryUseMiB + vm.memoryUseMiB) > policy.maxHostUse * h.memoryMiB) continue;
        if (best === undefined || share(h, l) > share(best, loadOf(best))) best = h;
      }
      if (!best) break;
      addVm(loadOf(best), vm, 1);
      placed.push({ vm, to: best });
    }
    if (placed.length < vms.length) {
      skipped.push(`${cand.name}: its VMs do not fit on the other hosts within ${Math.round(policy.maxHostUse * 100)}% use`);
      continue;
    }
    for (const [id, l] of trial) loads.set(id, l);
    for (const { vm, to } of placed) {
      addVm(load, vm, -1);
      receiving.add(to.id);
      moves.push({
        vmId: vm.id, vmName: vm.name, fromHostId: cand.id, toHostId: to.id, imbalanceAfter: 0,
        reason: `empties ${cand.name} (the least used host left); ${to.name} is the fullest host it fits within ${Math.round(policy.maxHostUse * 100)}% use`,
      });
    }
    active.delete(cand.id);
    standby.push({ hostId: cand.id, hostName: cand.name, reason: vms.length === 0 ? 'runs no VM' : `its ${vms.length} VM(s) move to other hosts` });
  }
  // Imbalance after each move is over the hosts that stay active: the emptied ones no longer count.
  const remaining = state.hosts.filter((h) => active.has(h.id));
  const after = imbalanceOf(remaining, loads);
  const withAfter = moves.map((m) => ({ ...m, imbalanceAfter: after }));
  const summary = standby.length === 0
    ? `no host can be emptied${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`
    : `${withAfter.length} move(s) free ${standby.length} host(s): ${standby.map((s) => s.hostName).join(', ')}${skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : ''}`;
  return { moves: withAfter, standby, summary };
}
