import type { Kysely } from 'kysely';

/**
 * `migration_queue.forced` (issue 16): an admin's migration to an explicit
 * destination that need not meet the VM's placement requirements (`force`).
 * Kept with the entry because the checks run again when its turn comes —
 * possibly after a controller restart — and must judge it as requested.
 * 0/1, as the other flags (0012's `enabled`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('migration_queue').addColumn('forced', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('migration_queue').dropColumn('forced').execute();
}
