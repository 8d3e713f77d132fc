import type { VmState } from '../vm-state.js';

/** What the rule needs to know of the caller, the VM and its unfinished migration. */
export interface TerminateDuringMigrationFacts {
  readonly admin: boolean;
  readonly vmState: VmState;
  /** The VM's unfinished migration, if the store has one. */
  readonly migration?:
    | { readonly id: string; readonly kind: 'live' | 'cold'; readonly stage: string; readonly startedAtMs: number; readonly timeoutS: number }
    | undefined;
  readonly nowMs: number;
}

export type TerminateDuringMigrationVerdict =
  | { readonly allowed: true; readonly reason: string }
  | { readonly allowed: false; readonly reason: string };

/**
 * Whether `terminate-hard` may end a VM that is `migrating`. A migration
 * owns its VM until it ends, and every wait of its resolution is bounded —
 * but only by up to minutes, while an agent that never answers again keeps
 * the VM `migrating` all that time. An admin may then end it: once its live
 * migration ran past its own timeout (it is stuck: a healthy one has
 * finished or aborted by then), or when no unfinished migration is recorded
 * at all. Before the timeout the migration still decides (cancel it
 * instead); a user never may (the copies on two hosts are an operator's
 * matter); a cold migration ends by itself (its copy is bounded by the
 * transfer's own timeouts).
 */
export function terminateDuringMigration(f: TerminateDuringMigrationFacts): TerminateDuringMigrationVerdict {
  if (f.vmState !== 'migrating') return { allowed: false, reason: `the VM is ${f.vmState}, not migrating` };
  if (!f.admin) return { allowed: false, reason: 'only an admin may end a VM while it migrates; cancel the migration, or wait for it to end' };
  const m = f.migration;
  if (m === undefined) return { allowed: true, reason: 'no unfinished migration is recorded for the VM' };
  if (m.kind !== 'live') return { allowed: false, reason: `its cold migration ${m.id} ends by itself; wait for it` };
  const deadline = m.startedAtMs + m.timeoutS * 1000;
  if (f.nowMs <= deadline) {
    return { allowed: false, reason: `its migration ${m.id} (stage ${m.stage}) is within its timeout until ${new Date(deadline).toISOString()}; cancel it, or wait` };
  }
  return { allowed: true, reason: `its migration ${m.id} is stuck at ${m.stage}, past its timeout of ${m.timeoutS} s` };
}
