import { sql, type Kysely } from 'kysely';

/**
 * A live migration reserves the destination's capacity for its whole run
 * (stage 1), separately from the VM's own reservation on the source: until
 * the commit both hosts hold room for the VM, so neither can be given away.
 * The commit hands the destination's reservation to the VM and frees the
 * source's; an abort frees the destination's.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const col of ['reserved_cpus', 'reserved_memory_mib', 'reserved_disk_mib']) {
    await db.schema.alterTable('migrations').addColumn(col, 'bigint', (c) => c.notNull().defaultTo(0).check(sql`${sql.ref(col)} >= 0`)).execute();
  }
  await db.schema.alterTable('migrations').addColumn('policy', 'text', (c) => c.notNull().defaultTo('{}')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const col of ['policy', 'reserved_disk_mib', 'reserved_memory_mib', 'reserved_cpus']) {
    await db.schema.alterTable('migrations').dropColumn(col).execute();
  }
}
