import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * Quotas (issue 13): one row of limits per user and per group that has any
 * (a null column is unlimited; no row, nothing limited). Sizes are MiB, like
 * every size in the store. What counts against them is read from the
 * resources themselves when a request is admitted, so usage cannot drift
 * from what exists; a VM's charge — its vCPUs, memory and disk (its image's
 * virtual size, whatever the datastore) — is kept on its row, set when it is
 * admitted, so the sum is one query on both dialects.
 *
 * On PostgreSQL the new tables get 0007's write fence like every other table.
 */
const LIMIT_COLUMNS = ['vms', 'vcpus', 'memory_mib', 'disk_mib', 'volumes', 'images', 'leases'] as const;

export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  for (const [table, key, parent] of [['user_quotas', 'user_id', 'users.id'], ['group_quotas', 'group_id', 'groups.id']] as const) {
    let t = db.schema.createTable(table).addColumn(key, 'text', (c) => c.primaryKey().references(parent).onDelete('cascade'));
    for (const col of LIMIT_COLUMNS) t = t.addColumn(col, 'bigint', (c) => c.check(sql`${sql.ref(col)} >= 0`));
    await t.addColumn('updated_at', 'text', (c) => c.notNull()).execute();
    if (dialect === 'postgres') {
      await sql`CREATE TRIGGER nubo_fence BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)} FOR EACH STATEMENT EXECUTE FUNCTION nubo_fence_controller_write()`.execute(db);
    }
  }
  for (const col of ['charged_vcpus', 'charged_memory_mib', 'charged_disk_mib'] as const) {
    await db.schema.alterTable('vms').addColumn(col, 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  }
  // The VMs there are: their charge from the placement demand admission wrote into their spec (disk: what it reserved).
  const rows = await sql<{ id: string; spec: string }>`select id, spec from vms where state <> 'terminated'`.execute(db);
  for (const r of rows.rows) {
    const demand = (JSON.parse(r.spec) as { demand?: { vcpus?: unknown; memoryMiB?: unknown; diskMiB?: unknown } }).demand ?? {};
    const n = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
    await sql`update vms set charged_vcpus = ${n(demand.vcpus)}, charged_memory_mib = ${n(demand.memoryMiB)}, charged_disk_mib = ${n(demand.diskMiB)} where id = ${r.id}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const col of ['charged_vcpus', 'charged_memory_mib', 'charged_disk_mib']) await db.schema.alterTable('vms').dropColumn(col).execute();
  for (const t of ['group_quotas', 'user_quotas']) await db.schema.dropTable(t).execute();
}
