import type { Kysely } from 'kysely';

/** Events are pruned by age: without an index on `at` every prune would scan the whole table. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('events_at').on('events').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('events_at').execute();
}
