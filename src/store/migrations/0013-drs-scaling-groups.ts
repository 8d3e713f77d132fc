import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The rebalancer (DRS) and autoscaling groups (issue 16 items 4 and 6).
 *
 * - `hosts.standby_since`: set when consolidation emptied the host and put it
 *   on standby; null when it takes VMs. Its own column, beside `state`
 *   (which other host conditions do not share): placement skips a standby
 *   host unless nothing else fits, and then wakes it (clears the column).
 * - `drs_config`: one row, the periodic rebalancer's switch, interval and policy.
 * - `drs_plans` + `drs_moves`: the journal of an applied plan, written before
 *   its first migration starts; a move is `running` with its migration's id
 *   before that migration is started, so a restarted controller knows which
 *   moves ran and drops the rest.
 * - `scaling_groups`, `scaling_group_members`, `scaling_group_history`: a
 *   group's bounds and policy, its members (a member row, with the name its
 *   VM gets, is written before the VM is made, so a restart finds or makes
 *   that VM and never a second one), and what it decided and why.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema.alterTable('hosts').addColumn('standby_since', 'text').execute();
  await db.schema.createTable('drs_config')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('enabled', 'integer', (c) => c.notNull().check(sql`enabled in (0, 1)`))
    .addColumn('interval_s', 'integer', (c) => c.notNull().check(sql`interval_s > 0`))
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createTable('drs_plans')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('trigger', 'text', (c) => c.notNull().check(sql`${sql.ref('trigger')} in ('manual', 'periodic')`))
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('applying', 'done', 'interrupted', 'failed')`))
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema.createTable('drs_moves')
    .addColumn('plan_id', 'text', (c) => c.notNull().references('drs_plans.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('from_host_id', 'text', (c) => c.notNull())
    .addColumn('to_host_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('pending', 'running', 'done', 'failed', 'dropped')`))
    .addColumn('migration_id', 'text')
    .addColumn('message', 'text')
    .addPrimaryKeyConstraint('drs_moves_pk', ['plan_id', 'seq'])
    .execute();
  await db.schema.createTable('scaling_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('template_id', 'text', (c) => c.notNull())
    .addColumn('min_size', 'integer', (c) => c.notNull())
    .addColumn('max_size', 'integer', (c) => c.notNull())
    .addColumn('desired', 'integer', (c) => c.notNull())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('launch', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('custom_metric', 'double precision')
    .addColumn('custom_metric_at', 'text')
    .addColumn('last_scale_at', 'text')
    .addColumn('next_member', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('scaling_groups_owner_name', ['owner_id', 'name'])
    .execute();
  await db.schema.createTable('scaling_group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('scaling_groups.id').onDelete('cascade'))
    .addColumn('vm_name', 'text', (c) => c.notNull())
    .addColumn('vm_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('creating', 'active', 'removing')`))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('scaling_group_members_pk', ['group_id', 'vm_name'])
    .execute();
  const history = db.schema.createTable('scaling_group_history');
  await (dialect === 'postgres' ? history.addColumn('id', 'bigserial', (c) => c.primaryKey()) : history.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('group_id', 'text', (c) => c.notNull().references('scaling_groups.id').onDelete('cascade'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('desired_from', 'integer')
    .addColumn('desired_to', 'integer')
    .addColumn('message', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scaling_group_history_group_idx').on('scaling_group_history').columns(['group_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['scaling_group_history', 'scaling_group_members', 'scaling_groups', 'drs_moves', 'drs_plans', 'drs_config']) await db.schema.dropTable(t).execute();
  await db.schema.alterTable('hosts').dropColumn('standby_since').execute();
}
