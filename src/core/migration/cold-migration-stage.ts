/**
 * The stages of a cold migration (DESIGN §5, "Cold migration") as the
 * controller journals them, in order. A forward stage is written once it was
 * reached; `aborting` is written before the roll-back it names, so a
 * restarted controller carries it on. `committed` is written in the store
 * transaction that moves the VM to the destination: before it the source's
 * files are the VM, after it the destination's.
 */
export const COLD_MIGRATION_STAGES = ['reservation', 'copying', 'verified', 'committed', 'cleaned'] as const;

export type ForwardColdMigrationStage = (typeof COLD_MIGRATION_STAGES)[number];

export type ColdMigrationStage = ForwardColdMigrationStage | 'aborting';

/** For logs, the CLI and the dashboard. */
export const COLD_MIGRATION_STAGE_DESCRIPTIONS: Readonly<Record<ColdMigrationStage, string>> = Object.freeze({
  reservation: 'destination capacity reserved in the store',
  copying: "the destination agent pulls the VM's files (disk overlay, config drive, saved memory) from the source agent",
  verified: "every file arrived whole (size and sha256 agree on both sides) and is installed on the destination",
  committed: "the store names the destination as the VM's host (the only commit point)",
  cleaned: "the source's files deleted",
  aborting: "rolling back: the destination's files removed, reservation freed; the VM stays on the source",
});

const stages: ReadonlySet<string> = new Set<string>([...COLD_MIGRATION_STAGES, 'aborting']);

/** For values read back from the store's journal. */
export function isColdMigrationStage(value: unknown): value is ColdMigrationStage {
  return typeof value === 'string' && stages.has(value);
}

/** True for the stages the journal only reaches once the store committed. */
export function isAfterColdCommit(stage: ColdMigrationStage): boolean {
  return stage === 'committed' || stage === 'cleaned';
}
