import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Capacity leases (Haizea-style: advance reservation, best effort,
 * immediate), not to be confused with `leases`, the network address leases of
 * 0001. One row per lease with its state machine's state and reason, its
 * current plan (segments and placements, JSON) and `pending_step`: the
 * enactment step decided and journaled before its side effect, cleared when
 * it is done — what a restarted controller finishes. `capacity_lease_vms`
 * names the VMs a lease made and the host each is planned on;
 * `capacity_lease_events` is the lease's timeline (what happened, when).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema.createTable('capacity_leases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sqlIn('kind', ['ar', 'be', 'immediate'])))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('submit_s', 'double precision', (c) => c.notNull())
    .addColumn('start_s', 'double precision')
    .addColumn('duration_s', 'double precision', (c) => c.notNull())
    .addColumn('vm_count', 'integer', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mib', 'integer', (c) => c.notNull())
    .addColumn('template_id', 'text', (c) => c.notNull())
    .addColumn('preemptible', 'integer', (c) => c.notNull())
    .addColumn('remaining_s', 'double precision', (c) => c.notNull())
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('pending_step', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('capacity_leases_owner_idx').on('capacity_leases').column('owner_id').execute();
  await db.schema.createIndex('capacity_leases_state_idx').on('capacity_leases').column('state').execute();
  await db.schema.createTable('capacity_lease_vms')
    .addColumn('lease_id', 'text', (c) => c.notNull().references('capacity_leases.id').onDelete('cascade'))
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('capacity_lease_vms_pk', ['lease_id', 'idx'])
    .execute();
  const events = db.schema.createTable('capacity_lease_events');
  await (dialect === 'postgres' ? events.addColumn('id', 'bigserial', (c) => c.primaryKey()) : events.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('lease_id', 'text', (c) => c.notNull().references('capacity_leases.id').onDelete('cascade'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('capacity_lease_events_lease_idx').on('capacity_lease_events').columns(['lease_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('capacity_lease_events').execute();
  await db.schema.dropTable('capacity_lease_vms').execute();
  await db.schema.dropTable('capacity_leases').execute();
}

/** A CHECK that the column holds one of `values` (fixed literals of this file, never input). */
function sqlIn(column: string, values: readonly string[]) {
  return sql.raw(`${column} in (${values.map((v) => `'${v}'`).join(', ')})`);
}
