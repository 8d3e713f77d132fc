import { clusterState } from './cluster-state.js';
import type { DrsCluster } from './drs-cluster.js';
import type { DrsPlan } from './drs-plan.js';
import type { DrsPolicy } from './drs-policy.js';
import { imbalanceOf } from './imbalance.js';
import { planBalance } from './plan-balance.js';
import { planConsolidation } from './plan-consolidation.js';

/**
 * The rebalancer's plan for `cluster` under `policy`: pure and deterministic
 * (the same input in any order gives the same plan), every move with its
 * reason. Balance mode lowers the imbalance; consolidate mode empties hosts
 * to put them on standby.
 */
export function planDrs(cluster: DrsCluster, policy: DrsPolicy): DrsPlan {
  const state = clusterState(cluster, policy);
  const held = state.held.map((h) => ({ ...h }));
  if (policy.mode === 'balance') {
    const r = planBalance(state, policy);
    return { mode: 'balance', imbalanceBefore: r.before, imbalanceAfter: r.after, moves: r.moves, standby: [], summary: r.summary, held };
  }
  const before = imbalanceOf(state.hosts, state.loads);
  const r = planConsolidation(state, policy);
  return { mode: 'consolidate', imbalanceBefore: before, imbalanceAfter: r.moves.at(-1)?.imbalanceAfter ?? before, moves: r.moves, standby: r.standby, summary: r.summary, held };
}
