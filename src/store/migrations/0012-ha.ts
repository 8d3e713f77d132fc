import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * High availability (issue 16 item 5), in tables of its own so that
 * `hosts.state` and its CHECK stay as they are:
 * - `vm_ha`: which VMs are restarted elsewhere when their host is fenced;
 * - `host_fencing`: per host, how it is fenced (`none`: never restarted
 *   automatically) and where its fencing stands, with the time of each step —
 *   the HA service writes a step before it acts on it;
 * - `ha_restarts`: the journal of one incident's decisions per VM (restart on
 *   a target, or lost), unique per VM and incident so a VM is never restarted
 *   twice for one failure.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema.createTable('vm_ha')
    .addColumn('vm_id', 'text', (c) => c.primaryKey())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createTable('host_fencing')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('method', 'text', (c) => c.notNull().defaultTo('none').check(sqlIn('method', ['none', 'command', 'lab'])))
    .addColumn('config', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('timeout_ms', 'integer', (c) => c.notNull().defaultTo(30_000))
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('ok').check(sqlIn('state', ['ok', 'suspected', 'fencing', 'fenced', 'recovering', 'recovered'])))
    .addColumn('incident', 'text')
    .addColumn('suspected_at', 'text')
    .addColumn('fencing_at', 'text')
    .addColumn('fenced_at', 'text')
    .addColumn('recovering_at', 'text')
    .addColumn('recovered_at', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('degraded', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  const t = db.schema.createTable('ha_restarts');
  await (dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('incident', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull().check(sqlIn('action', ['restart', 'lost'])))
    .addColumn('state', 'text', (c) => c.notNull().check(sqlIn('state', ['planned', 'restarting', 'done', 'failed'])))
    .addColumn('target_host_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ha_restarts_vm_incident').on('ha_restarts').columns(['vm_id', 'incident']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ha_restarts').execute();
  await db.schema.dropTable('host_fencing').execute();
  await db.schema.dropTable('vm_ha').execute();
}

function sqlIn(column: string, values: readonly string[]): RawBuilder<unknown> {
  return sql`${sql.ref(column)} in (${sql.join(values.map((v) => sql.lit(v)))})`;
}
