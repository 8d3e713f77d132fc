import { ValidationError } from '../../errors/validation-error.js';
import { isAfterColdCommit, isColdMigrationStage, type ColdMigrationStage } from './cold-migration-stage.js';

/**
 * What the source agent holds of a VM being cold-migrated:
 * - holds: its files, at rest (powered off or suspended);
 * - running: a QEMU runs it (someone started it behind the controller's back):
 *   its disk is newer than anything copied;
 * - absent: nothing;
 * - unreachable: the agent did not answer.
 */
export type ColdSourceHolding = 'holds' | 'running' | 'absent' | 'unreachable';

/**
 * What the destination agent holds:
 * - copying: a receive of this migration is under way;
 * - complete: every file arrived, was verified and installed;
 * - none: nothing (never started, failed and cleaned up, or released);
 * - unreachable: the agent did not answer.
 */
export type ColdDestHolding = 'copying' | 'complete' | 'none' | 'unreachable';

export interface ColdMigrationFacts {
  /** The last stage in the journal. */
  readonly stage: ColdMigrationStage;
  /** The store names the destination as the VM's host. Authoritative. */
  readonly committed: boolean;
  readonly source: ColdSourceHolding;
  readonly dest: ColdDestHolding;
  /** What failed, quoted in the reason. */
  readonly cause?: string | undefined;
}

/**
 * - abort: stop the destination's copy and remove its files, free the
 *   reservation; the VM stays on the source, in the state it had.
 * - roll-forward: commit in the store when `commit`; delete the source's
 *   files when `releaseSource` (only once the destination confirmed it holds
 *   the complete copy — otherwise the host monitor releases them later).
 * - revert-to-source: committed, but the destination lost its copy while the
 *   source still holds the files: move the VM back in the store.
 * - wait: nothing is safe yet; decide again (every wait has a timeout).
 * - lost: no complete copy is left anywhere nubo can see.
 */
export type ColdMigrationDecision =
  | { readonly kind: 'abort'; readonly reason: string }
  | { readonly kind: 'roll-forward'; readonly commit: boolean; readonly releaseSource: boolean; readonly reason: string }
  | { readonly kind: 'revert-to-source'; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'lost'; readonly reason: string };

type Outcome = 'abort' | 'roll-forward' | 'revert-to-source' | 'wait' | 'lost';

export interface ColdMigrationRule {
  readonly committed: boolean;
  readonly source: readonly ColdSourceHolding[];
  readonly dest: readonly ColdDestHolding[];
  readonly then: Outcome;
  readonly why: string;
}

const SOURCE_ALL: readonly ColdSourceHolding[] = ['holds', 'running', 'absent', 'unreachable'];
const DEST_ALL: readonly ColdDestHolding[] = ['copying', 'complete', 'none', 'unreachable'];

const rule = (committed: boolean, source: readonly ColdSourceHolding[], dest: readonly ColdDestHolding[], then: Outcome, why: string): ColdMigrationRule =>
  Object.freeze({ committed, source, dest, then, why });

/**
 * The single source of truth for a cold migration that failed, was cancelled
 * or was found unfinished by a restarted controller. Exactly one row applies
 * to every combination (a test walks them all). The source's files are never
 * touched before the commit, so before it the answer is almost always to
 * abort; only a source that lost its files makes the destination's verified
 * copy the VM. After the commit the destination is the VM.
 */
export const COLD_MIGRATION_RULES: readonly ColdMigrationRule[] = Object.freeze([
  // Before the commit the store names the source; its files were only read.
  rule(false, ['holds', 'unreachable'], DEST_ALL, 'abort', 'not committed: the source keeps the VM, the destination\'s copy goes'),
  rule(false, ['running'], DEST_ALL, 'abort', 'the VM runs on the source again: whatever was copied is stale'),
  rule(false, ['absent'], ['complete'], 'roll-forward', "the source lost the VM's files; the destination's verified copy is the only one: commit"),
  rule(false, ['absent'], ['copying', 'unreachable'], 'wait', "the source lost the VM's files; the destination may still complete its copy"),
  rule(false, ['absent'], ['none'], 'lost', 'neither host holds the VM any more'),

  // After the commit the destination is the VM.
  rule(true, SOURCE_ALL, ['complete'], 'roll-forward', 'committed, and the destination holds the verified copy: finish'),
  rule(true, SOURCE_ALL, ['unreachable'], 'roll-forward', "committed after the destination confirmed its verified copy: finish; the source's files are left until that host is heard from"),
  // A commit comes only after a verified copy: the destination cannot be copying now; ask again.
  rule(true, SOURCE_ALL, ['copying'], 'wait', 'committed, yet the destination says it is still copying: ask again'),
  rule(true, ['holds'], ['none'], 'revert-to-source', 'committed, but the destination lost its copy; the source still holds the files: move the VM back'),
  rule(true, ['running'], ['none'], 'revert-to-source', 'committed, but the destination lost its copy and the VM runs on the source: keep that one'),
  rule(true, ['unreachable'], ['none'], 'wait', 'the destination lost its copy: wait for the source to say whether it still holds the files'),
  rule(true, ['absent'], ['none'], 'lost', 'committed, but neither host holds the VM any more'),
]);

function checkFacts(f: ColdMigrationFacts): void {
  if (!isColdMigrationStage(f.stage)) throw new ValidationError('cold migration facts', [{ field: 'stage', message: `unknown cold migration stage ${String(f.stage)}` }]);
}

/** Every rule that applies (the table guarantees exactly one). */
export function matchingColdRules(f: ColdMigrationFacts): readonly ColdMigrationRule[] {
  checkFacts(f);
  const committed = f.committed || isAfterColdCommit(f.stage);
  return COLD_MIGRATION_RULES.filter((r) => r.committed === committed && r.source.includes(f.source) && r.dest.includes(f.dest));
}

/**
 * What to do with a cold migration whose step failed, was cancelled, or that
 * a restarted controller found unfinished — from the journal, the store and
 * what both agents hold now. Idempotent: a decision carried out in part may
 * be asked for again.
 * @throws ValidationError for a stage that does not exist.
 */
export function decideColdMigration(f: ColdMigrationFacts): ColdMigrationDecision {
  const r = matchingColdRules(f)[0];
  const context = `stage ${f.stage}, ${f.committed ? 'committed' : 'not committed'}, source ${f.source}, destination ${f.dest}`;
  const reasonOf = (why: string): string => `${why} (${context})${f.cause === undefined ? '' : `; after: ${f.cause}`}`;
  if (r === undefined) return Object.freeze({ kind: 'wait', reason: reasonOf('no rule covers this case: an operator must look') });
  const reason = reasonOf(r.why);
  if (r.then === 'roll-forward') {
    return Object.freeze({ kind: 'roll-forward', commit: !f.committed, releaseSource: f.dest === 'complete', reason });
  }
  return Object.freeze({ kind: r.then, reason });
}
