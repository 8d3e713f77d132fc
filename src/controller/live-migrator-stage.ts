import type { MigrationStage } from '../core/migration/migration-stage.js';
import type { MigrationRecord } from '../store/repositories/migrations-repository.js';
import type { JsonObject } from '../store/store-context.js';
import type { LiveMigratorOptions } from './live-migrator-deps.js';

/** Journals a stage the migration reached (logged, then written), then hits its failpoint `migration.<stage>`. */
export async function journalStage(o: LiveMigratorOptions, m: MigrationRecord, stage: MigrationStage, data?: JsonObject): Promise<MigrationRecord> {
  o.logger.info({ migrationId: m.id, vmId: m.vmId, stage, ...data }, 'migration stage');
  const next = await o.store.migrations.updateStage(m.id, stage, data);
  await o.failpoints?.hit(`migration.${stage}`);
  return next;
}

/**
 * Whether the destination of this migration was started to run the guest on its own at completion (resume on
 * completion): the controller writes it into the `prepared` stage's data before the source is told to migrate.
 */
export function resumesOnCompletion(m: MigrationRecord): boolean {
  return m.journal.some((j) => j.stage === 'prepared' && j.data?.['resumeOnCompletion'] === true);
}
