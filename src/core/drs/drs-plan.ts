import type { DrsMode } from './drs-policy.js';

/** One live migration of a plan, with the reason a person reads. */
export interface DrsMove {
  readonly vmId: string;
  readonly vmName: string;
  readonly fromHostId: string;
  readonly toHostId: string;
  readonly reason: string;
  /** The cluster's imbalance once this move (and the ones before it) is done. */
  readonly imbalanceAfter: number;
}

/** A host that consolidation empties: once its moves are done it is put on standby. */
export interface DrsStandbyHost {
  readonly hostId: string;
  readonly hostName: string;
  readonly reason: string;
}

export interface DrsPlan {
  readonly mode: DrsMode;
  readonly imbalanceBefore: number;
  readonly imbalanceAfter: number;
  readonly moves: readonly DrsMove[];
  readonly standby: readonly DrsStandbyHost[];
  /** Why the plan is what it is (and why it is empty, when it is). */
  readonly summary: string;
  /** VMs left out and why (recently moved, not movable), for `plan`'s explanation. */
  readonly held: readonly { readonly vmId: string; readonly vmName: string; readonly reason: string }[];
}
