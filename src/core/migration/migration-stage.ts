/**
 * The stages of a live migration as the orchestrator journals them (DESIGN
 * §5), in the order they happen. Each forward stage is written once it has
 * been *reached* (the side effect happened and was observed), so after a
 * restart the real progress may be one step ahead of the journal — which is
 * why the decision also asks both agents what they hold. Two stages are
 * intents, written *before* their side effect: `postcopy` (before
 * `migrate-start-postcopy`: from then on the destination may have run the
 * guest, and the source's image must never be resumed) and `aborting` (the
 * roll-back a restarted controller must carry on with). `committed` is
 * written in the store transaction that moves the VM to the destination.
 * With resume on completion (`prepared` says `resumeOnCompletion`) the
 * destination QEMU runs the guest the moment the stream completes: that
 * completion is the commit point, and `stop-and-copy` … `activated` record,
 * after the fact, a switch that already happened.
 *
 * `mirroring` (shared storage needs no mirrors), `postcopy` and
 * `stop-and-copy` (whichever ends the transfer, if observed at all) may be
 * skipped; the others may not.
 */
export const MIGRATION_STAGES = [
  'reservation',
  'prepared',
  'mirroring',
  'precopy',
  'postcopy',
  'stop-and-copy',
  'transferred',
  'committed',
  'activated',
  'cleaned',
] as const;

export type ForwardMigrationStage = (typeof MIGRATION_STAGES)[number];

/** The roll-back path; only before the commit and before any switch to post-copy. */
export const ABORTING_STAGE = 'aborting';

/**
 * The final stage of a migration that ended with the VM on its source: after
 * `aborting`, or after a revert of the commit (journalled as `reverted`).
 * Written just before the record is finished, so a record that ended never
 * shows the roll-back as still under way.
 */
export const ABORTED_STAGE = 'aborted';

export type MigrationStage = ForwardMigrationStage | typeof ABORTING_STAGE | typeof ABORTED_STAGE;

export const ALL_MIGRATION_STAGES: readonly MigrationStage[] = Object.freeze([...MIGRATION_STAGES, ABORTING_STAGE, ABORTED_STAGE]);

/** For logs, the CLI and the dashboard. */
export const MIGRATION_STAGE_DESCRIPTIONS: Readonly<Record<MigrationStage, string>> = Object.freeze({
  reservation: 'destination capacity reserved in the store',
  prepared: 'destination QEMU listening for the incoming stream (-incoming defer), paused — or, resuming on completion, to run the guest once the stream completed',
  mirroring: "non-shared disks being mirrored to the destination's NBD exports",
  precopy: 'memory being copied while the guest runs on the source (migrate)',
  postcopy: 'switched to post-copy: the guest runs on the destination, which pulls the remaining pages from the source',
  'stop-and-copy': 'source paused for the last pass',
  transferred: 'source completed (postmigrate) and disk mirrors completed: the destination holds a complete image (paused; running when it resumes on completion)',
  committed: "the store names the destination as the VM's host (the commit point; when resuming on completion, the record of the destination's completion, which was)",
  activated: 'the guest runs on the destination',
  cleaned: 'source copy destroyed and its resources freed',
  aborting: 'rolling back to the source: migration cancelled, destination destroyed, reservation freed',
  aborted: 'rolled back: the VM runs on its source (final)',
});

// Which stage may be journalled after which. `aborting` is refused once the
// store committed (roll forward instead) and once post-copy started: from
// then on the destination has run the guest and the source's image is stale.
const NEXT: Readonly<Record<MigrationStage, readonly MigrationStage[]>> = {
  reservation: ['prepared', 'aborting'],
  prepared: ['mirroring', 'precopy', 'aborting'],
  mirroring: ['precopy', 'aborting'],
  precopy: ['postcopy', 'stop-and-copy', 'transferred', 'aborting'],
  postcopy: ['transferred'],
  'stop-and-copy': ['transferred', 'aborting'],
  transferred: ['committed', 'aborting'],
  // A revert of the commit (the destination died before it ran the guest) ends the migration back on the source.
  committed: ['activated', 'aborted'],
  activated: ['cleaned'],
  cleaned: [],
  aborting: ['aborted'],
  aborted: [],
};

const stages: ReadonlySet<string> = new Set(ALL_MIGRATION_STAGES);
const afterCommit: ReadonlySet<MigrationStage> = new Set(['committed', 'activated', 'cleaned']);

/** For values read back from the store's journal. */
export function isMigrationStage(value: unknown): value is MigrationStage {
  return typeof value === 'string' && stages.has(value);
}

/** True for the stages the journal only reaches once the store committed (VM host := destination). */
export function isAfterCommit(stage: MigrationStage): boolean {
  return afterCommit.has(stage);
}

/** The stages that may be journalled after `from` (`undefined`: a new migration, which starts with `reservation`). */
export function nextStages(from: MigrationStage | undefined): readonly MigrationStage[] {
  return from === undefined ? ['reservation'] : NEXT[from];
}

/** Whether journalling `to` after `from` keeps the journal in protocol order. */
export function canEnterStage(from: MigrationStage | undefined, to: MigrationStage): boolean {
  return nextStages(from).includes(to);
}
