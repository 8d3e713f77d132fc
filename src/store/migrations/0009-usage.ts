import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';
import { usageAmountsOf } from '../../core/usage/usage-amounts.js';

/**
 * Usage records (showback): one row per VM per stretch of time in one state
 * with fixed amounts, opened and closed by the same transaction as the state
 * change (or spec change) that causes it, so the records never disagree with
 * vm_history. At most one open row (`ended_at` null) per VM, enforced by a
 * partial unique index on both dialects.
 *
 * No foreign keys: the records outlive a purged VM (accounting keeps them)
 * and a deleted group, and name the VM as it was (`vm_name`).
 *
 * VMs that exist already get their records from their state history, with
 * the amounts of their spec as it is now (the history holds no older specs)
 * and their owner's group as it is now.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const table = db.schema.createTable('usage_intervals');
  await (dialect === 'postgres' ? table.addColumn('id', 'bigserial', (c) => c.primaryKey()) : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()))
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('vm_name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mib', 'bigint', (c) => c.notNull())
    .addColumn('disk_mib', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .execute();
  await db.schema.createIndex('usage_intervals_one_open_per_vm').on('usage_intervals').column('vm_id').unique().where(sql.ref('ended_at'), 'is', null).execute();
  // A report reads the intervals that overlap one month.
  await db.schema.createIndex('usage_intervals_started_idx').on('usage_intervals').column('started_at').execute();
  await db.schema.createIndex('usage_intervals_owner_idx').on('usage_intervals').columns(['owner_id', 'started_at']).execute();
  await backfill(db as unknown as Kysely<Tables>);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('usage_intervals').execute();
}

/** The tables as they are at 0009, for the backfill (the live schema may move on). */
interface Tables {
  vms: { id: string; name: string; owner_id: string; spec: string };
  vm_history: { id: number; vm_id: string; to_state: string; at: string };
  group_members: { group_id: string; user_id: string; created_at: string };
  usage_intervals: {
    vm_id: string; vm_name: string; owner_id: string; group_id: string | null; state: string;
    vcpus: number; memory_mib: number; disk_mib: number; started_at: string; ended_at: string | null;
  };
}

async function backfill(db: Kysely<Tables>): Promise<void> {
  const vms = await db.selectFrom('vms').select(['id', 'name', 'owner_id', 'spec']).orderBy('id').execute();
  for (const vm of vms) {
    const history = await db.selectFrom('vm_history').select(['to_state', 'at']).where('vm_id', '=', vm.id).orderBy('id').execute();
    const group = await db.selectFrom('group_members').select('group_id').where('user_id', '=', vm.owner_id).orderBy('created_at').orderBy('group_id').executeTakeFirst();
    const a = usageAmountsOf(JSON.parse(vm.spec) as unknown);
    const rows = history.flatMap((h, k) => h.to_state === 'terminated' ? [] : [{
      vm_id: vm.id, vm_name: vm.name, owner_id: vm.owner_id, group_id: group?.group_id ?? null, state: h.to_state,
      vcpus: a.vcpus, memory_mib: a.memoryMib, disk_mib: a.diskMib, started_at: h.at, ended_at: history[k + 1]?.at ?? null,
    }]);
    if (rows.length > 0) await db.insertInto('usage_intervals').values(rows).execute();
  }
}
