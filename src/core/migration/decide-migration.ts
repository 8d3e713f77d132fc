import { ValidationError, type FieldIssue } from '../../errors/validation-error.js';
import { isAfterCommit, isMigrationStage, type MigrationStage } from './migration-stage.js';
import { describeSide, isSideState, type SideState, type SideView } from './side-view.js';

export type { SideState, SideView } from './side-view.js';

/**
 * What the orchestrator knows when a step failed, or when a restarted
 * controller finds an unfinished migration.
 */
export interface MigrationFacts {
  /** The last stage in the journal. */
  readonly stage: MigrationStage;
  /**
   * What the store says: the VM's host is the destination. Authoritative; the
   * journal's `committed` is written in the same transaction, so a journal at
   * or after `committed` with this false means a revert moved the VM back.
   */
  readonly committed: boolean;
  readonly source: SideView;
  readonly dest: SideView;
  /** What failed (the step's error message), quoted in the reason. */
  readonly cause?: string;
  /**
   * The VM's disks are mirrored to the destination (non-shared storage).
   * Until `transferred` the destination's disks may then lack the last writes
   * the source has yet to mirror, so its complete memory image alone is not a
   * complete VM. Default false (shared storage).
   */
  readonly mirroredDisks?: boolean;
  /**
   * The journal recorded a switch to post-copy at some point (the last stage
   * may have moved on to `transferred` or later). Default: `stage === 'postcopy'`.
   */
  readonly postcopyStarted?: boolean;
  /**
   * Resume on completion: the destination was started to run the guest on its
   * own the moment its incoming stream completes (QEMU's autostart), without
   * waiting for the controller. The commit point is then the destination's
   * completion: a source that completed (postmigrate) has handed the guest
   * over, the destination may have run it, and the source's image may be
   * stale — it is never resumed. Default false (the destination waits paused
   * for the controller's commit and `cont`).
   */
  readonly destAutostart?: boolean;
}

/**
 * - `abort`: `migrate_cancel` on the source (which resumes a source that had
 *   paused but not completed), destroy the destination, free the
 *   reservation; the VM stays on the source. `resumeSource`: the source
 *   completed (postmigrate) and the destination is known dead, so `cont` it
 *   after the destination is destroyed. When the source does not answer, do
 *   the destination's part, keep the journal at `aborting` and decide again
 *   once the source answers.
 * - `roll-forward`: `completeMirrors` on the source first when asked, commit
 *   in the store when `commit`, activate the destination (`cont`; a no-op if
 *   it runs), then destroy the source — once it answers, and by deciding
 *   again first: a source still `saving` serves post-copy pages.
 * - `revert-to-source`: destroy the destination, move the VM back to the
 *   source in the store, resume the source (`cont`; a no-op if it runs).
 * - `wait`: nothing is safe yet; decide again later (every wait has a timeout:
 *   the orchestrator fails the VM when it runs out).
 * - `lost`: no usable copy is left; touch nothing, mark the VM failed so that
 *   an operator (or `recover`) takes over.
 */
export type MigrationDecision =
  | { readonly kind: 'abort'; readonly resumeSource: boolean; readonly reason: string }
  | { readonly kind: 'roll-forward'; readonly commit: boolean; readonly completeMirrors: boolean; readonly reason: string }
  | { readonly kind: 'revert-to-source'; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'lost'; readonly reason: string };

/**
 * What the source's report means for the migration.
 * - live: running, or paused without having completed: it still is the VM;
 * - sent: postmigrate: a complete image that was handed over — never resume
 *   it unless the destination is known dead;
 * - finishing: saving (QEMU finish-migrate): the last pass, or serving
 *   post-copy pages; it ends by itself;
 * - dead: crashed, error, poweroff: no usable QEMU, the disks are still there;
 * - absent: the agent holds nothing for the VM;
 * - odd: a state a migration source cannot be in (inmigrate, suspended).
 */
export type SourceHolding = 'live' | 'sent' | 'finishing' | 'dead' | 'absent' | 'odd' | 'unreachable';

/**
 * What the destination's report means.
 * - running: it runs the guest (activated, or since a switch to post-copy);
 * - complete: paused — with `-S -incoming defer` QEMU only leaves inmigrate
 *   once the whole stream arrived, so paused means a complete image;
 * - receiving: inmigrate: incomplete; it can never run on its own;
 * - dead: crashed, error, poweroff, or absent;
 * - odd: a state a destination cannot be in (postmigrate, suspended, saving).
 */
export type DestHolding = 'running' | 'complete' | 'receiving' | 'dead' | 'odd' | 'unreachable';

/**
 * - after: the store committed (or the journal is at/after `committed`);
 * - postcopy: not committed, but the guest already ran on the destination;
 * - aborting: not committed, the abort was decided and journalled;
 * - before: not committed, pre-copy (or earlier).
 */
export type MigrationPhase = 'before' | 'aborting' | 'postcopy' | 'after';

/**
 * - mirrors-pending / mirrors-done: `mirroredDisks` and the journal did not
 *   reach `transferred` (under `aborting` it is unknown, so pending);
 * - ran / never-ran: the guest ran — or may have run — on the destination
 *   (journal at `activated` or later, post-copy started, or a destination
 *   that starts on its own at completion with the source completed), which
 *   makes the source's image stale.
 */
export type RuleCondition = 'mirrors-pending' | 'mirrors-done' | 'ran' | 'never-ran';

export type RuleOutcome = 'abort' | 'abort-and-resume' | 'roll-forward' | 'revert-to-source' | 'wait' | 'lost';

export interface MigrationRule {
  readonly phases: readonly MigrationPhase[];
  readonly source: readonly SourceHolding[];
  readonly dest: readonly DestHolding[];
  readonly when?: RuleCondition;
  readonly then: RuleOutcome;
  /** The reason given to the operator. */
  readonly why: string;
}

const PHASES_ALL: readonly MigrationPhase[] = ['before', 'aborting', 'postcopy', 'after'];
const PRE: readonly MigrationPhase[] = ['before', 'aborting'];
const DEST_ALL: readonly DestHolding[] = ['running', 'complete', 'receiving', 'dead', 'odd', 'unreachable'];
const NOT_RUNNING: readonly DestHolding[] = ['complete', 'receiving', 'dead', 'odd', 'unreachable'];
const SETTLED: readonly SourceHolding[] = ['live', 'sent', 'dead', 'absent', 'odd', 'unreachable'];

const row = (
  phases: readonly MigrationPhase[],
  source: readonly SourceHolding[],
  dest: readonly DestHolding[],
  then: RuleOutcome,
  why: string,
  when?: RuleCondition,
): MigrationRule => Object.freeze(when === undefined ? { phases, source, dest, then, why } : { phases, source, dest, when, then, why });

/**
 * The single source of truth for recovering a migration. Exactly one row
 * applies to every combination (a test walks them all). Principles: the store
 * decides who the VM is (before the commit the source, after it the
 * destination); a destination that never ran may always be destroyed; a
 * source that completed (postmigrate) is resumed only when the destination is
 * known dead and never ran the guest — with resume on completion
 * (`destAutostart`) the source's completion is the commit point, the
 * destination may have run the guest from then on, and a completed source is
 * never resumed; when a side that may hold the only copy, or may run the
 * guest, does not answer, wait.
 */
export const MIGRATION_RULES: readonly MigrationRule[] = Object.freeze([
  // Any phase: finish-migrate ends by itself (postmigrate, or running again on failure); during post-copy the source serves pages.
  row(PHASES_ALL, ['finishing'], DEST_ALL, 'wait', 'the source is still finishing the migration (saving): its outcome decides'),

  // Before the commit, split brain: the store names the source, so it stays.
  row(PRE, ['live'], ['running'], 'abort', 'both copies run; the store still names the source: keep it, destroy the destination'),
  // Before the commit, a destination that runs holds the newest state: the source must never run again.
  row(PRE, ['sent', 'dead', 'absent', 'odd', 'unreachable'], ['running'], 'roll-forward', 'the destination already runs the guest: it is the VM now'),
  // Before the commit, a source that still runs is the VM; the destination never ran, destroying it is safe.
  row(PRE, ['live'], NOT_RUNNING, 'abort', 'the source still runs the guest: cancel and destroy the destination, which never ran'),
  // The destination pauses only after its incoming stream completed, so the source completed too.
  row(['before'], ['sent'], ['complete'], 'roll-forward', 'the transfer completed (the destination holds a complete image): commit'),
  // Same, with the source out of reach: its answer cannot change the outcome.
  row(['before'], ['odd', 'unreachable'], ['complete'], 'roll-forward', 'the destination holds a complete image, so the source completed: roll forward without it', 'mirrors-done'),
  // Mirrors may still miss the source's last writes: only the source can finish them.
  row(['before'], ['odd', 'unreachable'], ['complete'], 'wait', "the destination's memory is complete but its disks may lack the source's last writes: wait for the source", 'mirrors-pending'),
  // The source holds nothing any more: the destination's complete image is the only copy.
  row(PRE, ['absent'], ['complete'], 'roll-forward', "the source holds nothing; the destination's complete image is the only copy"),
  // The source died after the transfer: roll forward, even against an abort that can no longer keep the VM on the source.
  row(PRE, ['dead'], ['complete'], 'roll-forward', "the source died after the transfer completed: the destination's complete image is the VM now", 'mirrors-done'),
  // Running on disks that miss acknowledged writes would corrupt them; the source's disks are intact and crash-consistent.
  row(PRE, ['dead'], ['complete'], 'lost', "the source died before its disk mirrors completed: the destination's disks may lack its last writes; the source's disks are intact, recover boots the VM from them", 'mirrors-pending'),
  // The destination is still loading what the source finished sending: moments.
  row(['before'], ['sent'], ['receiving'], 'wait', 'the source sent everything; the destination is still loading it'),
  // A completed source is resumed only once the destination is known dead.
  row(['before'], ['sent'], ['odd'], 'wait', 'the source completed: it may be resumed only once the destination is known dead'),
  row(PRE, ['sent'], ['unreachable'], 'wait', 'the source completed: it may be resumed only once the destination is known dead'),
  // The destination died before the commit: the completed source is the only copy.
  row(PRE, ['sent'], ['dead'], 'abort-and-resume', "the destination died before the commit: resume the source's complete image", 'never-ran'),
  // Resume on completion: the source's completion was the switch; the destination may have run the guest before it died.
  row(PRE, ['sent'], ['dead'], 'lost', "the destination was to run the guest on its own once the stream completed, and died: the source's image may be older than the guest's state, resuming it could run a stale copy; recover boots the VM from its disks", 'ran'),
  // Under an abort a completed source waits until the destination is gone; then the row above resumes it.
  row(['aborting'], ['sent'], ['complete', 'receiving', 'odd'], 'abort', 'the abort stands: destroy the destination first; once it is known gone the source may be resumed (decide again)', 'never-ran'),
  // Resume on completion: the abort came too late — the source completed, so the switch happened.
  row(['aborting'], ['sent'], ['complete'], 'roll-forward', 'the source completed and the destination, which runs the guest on its own at completion, holds the complete image: the abort came too late', 'ran'),
  row(['aborting'], ['sent'], ['receiving', 'odd'], 'wait', 'the source completed; the destination runs the guest on its own once it loaded the stream: the abort came too late, wait for it', 'ran'),
  // Under an abort, a complete destination is kept until the source says whether it can take the VM back.
  row(['aborting'], ['odd', 'unreachable'], ['complete'], 'wait', 'the abort was decided but the destination holds a complete image: wait for the source'),
  // An incomplete destination can never run: destroying it is always safe, QEMU keeps (or resumes) the source.
  row(PRE, ['odd', 'unreachable'], ['receiving'], 'abort', 'the destination holds an incomplete image: destroy it; the source keeps the VM (finish there once it answers)'),
  row(PRE, ['unreachable'], ['dead'], 'abort', 'the destination died: the source keeps the VM (finish there once it answers)'),
  row(PRE, ['odd'], ['dead'], 'wait', 'the destination died and the source is in an unexpected state: an operator must look'),
  // Neither side can supply the VM.
  row(PRE, ['dead', 'absent'], ['receiving', 'dead'], 'lost', 'the source died before the destination held a complete image: no copy is left'),
  // The destination may hold the only copy: ask again.
  row(PRE, ['dead', 'absent'], ['odd', 'unreachable'], 'wait', 'the source is gone; the destination may hold the only copy: wait until it answers'),
  row(PRE, ['odd', 'unreachable'], ['odd', 'unreachable'], 'wait', 'neither side says where the VM is: wait until they answer'),

  // Post-copy: the destination ran the guest, so it holds the newest state; nothing can be aborted any more.
  row(['postcopy'], SETTLED, ['running', 'complete'], 'roll-forward', 'since the switch to post-copy the destination holds the newest state: it is the VM now'),
  // Someone resumed the source and the destination died: the running copy is all there is.
  row(['postcopy'], ['live'], ['receiving', 'dead'], 'abort', 'the destination died after the switch to post-copy, but the source runs again: keep the running copy'),
  // The source's image predates what the guest did on the destination: resuming it would roll the guest back.
  row(['postcopy'], ['sent', 'dead', 'absent', 'odd'], ['receiving', 'dead'], 'lost', "the destination died after the switch to post-copy; the source's image is older than the guest's state: no usable copy is left"),
  row(['postcopy'], ['unreachable'], ['receiving', 'dead'], 'wait', 'the destination died after the switch to post-copy: wait for the source (only a source that runs again keeps the VM)'),
  row(['postcopy'], SETTLED, ['odd', 'unreachable'], 'wait', 'the destination may run the guest: wait until it answers'),

  // After the commit the destination is the VM: finish.
  row(['after'], SETTLED, ['running'], 'roll-forward', 'committed and running on the destination: finish'),
  row(['after'], ['sent', 'dead', 'absent', 'odd', 'unreachable'], ['complete'], 'roll-forward', "committed: activate the destination's complete image"),
  // Someone resumed the source: destroying the running copy for a stale paused one (or none) would lose work.
  row(['after'], ['live'], ['complete', 'receiving', 'dead'], 'revert-to-source', 'the source runs the guest again and the destination does not: keep the running copy'),
  // The destination never ran: the source's complete image is current — better than losing the VM.
  row(['after'], ['sent'], ['receiving', 'dead'], 'revert-to-source', 'the destination died before it ran the guest; the source still holds the complete image: move the VM back and resume it', 'never-ran'),
  // The destination ran: the source's image is older (and shared disks newer): resuming it would corrupt.
  row(['after'], ['sent'], ['receiving', 'dead'], 'lost', "the destination ran the guest (or may have: it starts on its own at completion), then died: the source's image is older, resuming it would roll the guest back; recover boots the VM from its disks", 'ran'),
  row(['after'], ['dead', 'absent'], ['receiving', 'dead'], 'lost', 'both copies are dead'),
  row(['after'], ['odd', 'unreachable'], ['receiving', 'dead'], 'wait', 'the destination is dead: wait for the source to say whether it still holds the image'),
  // The destination may run the guest: nothing on the source may be resumed.
  row(['after'], SETTLED, ['odd', 'unreachable'], 'wait', 'committed, but the destination does not say what it holds: wait, roll forward once it does'),
]);

const SOURCE_HOLDING: Readonly<Record<SideState, SourceHolding>> = {
  running: 'live',
  paused: 'live',
  postmigrate: 'sent',
  saving: 'finishing',
  crashed: 'dead',
  error: 'dead',
  poweroff: 'dead',
  absent: 'absent',
  inmigrate: 'odd',
  suspended: 'odd',
};

const DEST_HOLDING: Readonly<Record<SideState, DestHolding>> = {
  running: 'running',
  paused: 'complete',
  inmigrate: 'receiving',
  crashed: 'dead',
  error: 'dead',
  poweroff: 'dead',
  absent: 'dead',
  postmigrate: 'odd',
  suspended: 'odd',
  saving: 'odd',
};

export function classifySource(view: SideView): SourceHolding {
  return view.reachable ? SOURCE_HOLDING[view.state] : 'unreachable';
}

export function classifyDest(view: SideView): DestHolding {
  return view.reachable ? DEST_HOLDING[view.state] : 'unreachable';
}

const TRANSFERRED_OR_LATER: ReadonlySet<MigrationStage> = new Set(['transferred', 'committed', 'activated', 'cleaned']);
const ACTIVATED_OR_LATER: ReadonlySet<MigrationStage> = new Set(['activated', 'cleaned']);

function postcopyStarted(facts: MigrationFacts): boolean {
  return facts.postcopyStarted === true || facts.stage === 'postcopy';
}

export function migrationPhase(facts: MigrationFacts): MigrationPhase {
  if (facts.committed || isAfterCommit(facts.stage)) return 'after';
  if (postcopyStarted(facts)) return 'postcopy';
  return facts.stage === 'aborting' || facts.stage === 'aborted' ? 'aborting' : 'before';
}

function mirrorsPending(facts: MigrationFacts): boolean {
  return facts.mirroredDisks === true && (facts.stage === 'aborting' || facts.stage === 'aborted' || !TRANSFERRED_OR_LATER.has(facts.stage));
}

/** The destination ran the guest, or may have: see RuleCondition `ran`. */
function mayHaveRun(facts: MigrationFacts): boolean {
  const switchedOnCompletion = facts.destAutostart === true && classifySource(facts.source) === 'sent';
  return postcopyStarted(facts) || ACTIVATED_OR_LATER.has(facts.stage) || switchedOnCompletion;
}

function holds(condition: RuleCondition, facts: MigrationFacts): boolean {
  switch (condition) {
    case 'mirrors-pending':
      return mirrorsPending(facts);
    case 'mirrors-done':
      return !mirrorsPending(facts);
    case 'ran':
      return mayHaveRun(facts);
    case 'never-ran':
      return !mayHaveRun(facts);
  }
}

function checkFacts(facts: MigrationFacts): void {
  const issues: FieldIssue[] = [];
  if (!isMigrationStage(facts.stage)) issues.push({ field: 'stage', message: `unknown migration stage ${String(facts.stage)}` });
  for (const side of ['source', 'dest'] as const) {
    const view = facts[side];
    if (view.reachable && !isSideState(view.state)) issues.push({ field: `${side}.state`, message: `unknown VM state ${String(view.state)}` });
  }
  if (issues.length > 0) throw new ValidationError('migration facts', issues);
}

/**
 * Every rule that applies to `facts` (the table guarantees exactly one; the
 * test of the whole matrix relies on this).
 * @throws ValidationError for a stage or a state that does not exist.
 */
export function matchingRules(facts: MigrationFacts): readonly MigrationRule[] {
  checkFacts(facts);
  const phase = migrationPhase(facts);
  const source = classifySource(facts.source);
  const dest = classifyDest(facts.dest);
  return MIGRATION_RULES.filter(
    (r) => r.phases.includes(phase) && r.source.includes(source) && r.dest.includes(dest) && (r.when === undefined || holds(r.when, facts)),
  );
}

function reasonOf(why: string, facts: MigrationFacts): string {
  const context = `stage ${facts.stage}, ${facts.committed ? 'committed' : 'not committed'}, source ${describeSide(facts.source)}, destination ${describeSide(facts.dest)}`;
  return `${why} (${context})${facts.cause === undefined ? '' : `; after: ${facts.cause}`}`;
}

/**
 * What to do with a migration whose step failed, or that a restarted
 * controller found unfinished: one decision from the journal, the store and
 * what both agents hold now. Idempotent — the orchestrator may carry out a
 * decision partly, crash, and ask again.
 * @throws ValidationError for a stage or a state that does not exist.
 */
export function decideMigration(facts: MigrationFacts): MigrationDecision {
  const rule = matchingRules(facts)[0];
  if (rule === undefined) return Object.freeze({ kind: 'wait', reason: reasonOf('no rule covers this case: an operator must look', facts) });
  const reason = reasonOf(rule.why, facts);
  switch (rule.then) {
    case 'abort':
    case 'abort-and-resume':
      return Object.freeze({ kind: 'abort', resumeSource: rule.then === 'abort-and-resume', reason });
    case 'roll-forward': {
      // Finishing mirrors writes into the destination's disks: only while it has not run on them.
      const completeMirrors = mirrorsPending(facts) && classifySource(facts.source) === 'sent' && classifyDest(facts.dest) === 'complete';
      return Object.freeze({ kind: 'roll-forward', commit: !facts.committed, completeMirrors, reason });
    }
    case 'revert-to-source':
    case 'wait':
    case 'lost':
      return Object.freeze({ kind: rule.then, reason });
  }
}

/** What is known once an abort's destination part is done and the source's cancel failed. */
export interface FailedCancelFacts {
  /** The store names the destination (then nothing may end on the source). */
  readonly committed: boolean;
  /** The source, as it answered before the cancel. */
  readonly source: SideView;
  /** The destination's copy is known gone: released by this abort, or reported absent or dead. */
  readonly destGone: boolean;
}

/**
 * Whether an abort whose cancel on the source was refused (or failed) may
 * end anyway: yes when the VM runs where the record says — not committed, the
 * source runs it — and no destination copy is left that the stream could
 * complete into. Nothing then remains to cancel; waiting would only keep the
 * record `aborting`, the VM `migrating` and the destination reserved.
 */
export function abortEndsWithoutCancel(f: FailedCancelFacts): boolean {
  return !f.committed && f.destGone && f.source.reachable && f.source.state === 'running';
}
