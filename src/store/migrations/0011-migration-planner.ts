import { sql, type Kysely } from 'kysely';

/**
 * The migration planner (issue 16, items 2 and 3).
 * - `migration_queue`: every requested migration waits here until the
 *   dispatcher starts it within the per-host limits (concurrency, bandwidth
 *   budget); highest priority first, then first come. A started entry keeps
 *   its row (same id as the migration record it became) for the prediction
 *   to compare against the actual figures. In the store, so a restarted
 *   controller keeps the queue.
 * - `hosts.maintenance_state` / `hosts.maintenance`: a host in maintenance
 *   (`evacuating`, then `maintenance`) takes no new VMs; its own columns,
 *   not a value of `hosts.state` (whose CHECK other features share), and
 *   the evacuation's journal (options, what happened to each VM) as JSON.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('migration_queue')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('live', 'cold')`))
    .addColumn('source_host_id', 'text', (c) => c.notNull())
    .addColumn('dest_host_id', 'text')
    .addColumn('requested_to', 'text')
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('queued', 'started', 'cancelled', 'refused')`))
    .addColumn('reason', 'text')
    .addColumn('prediction', 'text')
    .addColumn('origin', 'text')
    .addColumn('queued_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .execute();
  // The dispatcher reads the waiting entries in order; at most one waits per VM.
  await db.schema.createIndex('migration_queue_waiting_idx').on('migration_queue').columns(['state', 'priority', 'queued_at']).execute();
  await db.schema.createIndex('migration_queue_one_waiting_per_vm').on('migration_queue').column('vm_id').unique().where(sql.ref('state'), '=', sql.lit('queued')).execute();
  await db.schema.alterTable('hosts').addColumn('maintenance_state', 'text', (c) => c.check(sql`maintenance_state in ('evacuating', 'maintenance')`)).execute();
  await db.schema.alterTable('hosts').addColumn('maintenance', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').dropColumn('maintenance').execute();
  await db.schema.alterTable('hosts').dropColumn('maintenance_state').execute();
  await db.schema.dropTable('migration_queue').execute();
}
