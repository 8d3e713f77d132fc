import { sql, type Kysely } from 'kysely';

/**
 * Datastores as a resource and volumes in zones (issue 18, part 1's gaps).
 * `datastores.capacity_mib`: the size an admin gives a shared datastore
 * (null: not known; a local one's is its host's disk). `volumes.cluster`: the
 * cluster (EC2 availability zone) a volume lives in — only a VM on a host of
 * that cluster may attach it. A volume already made on a host is in that
 * host's cluster; one not yet made is in none (null) and takes the cluster of
 * the host of its first attach, as every volume did before clusters.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('datastores').addColumn('capacity_mib', 'bigint').execute();
  await db.schema.alterTable('volumes').addColumn('cluster', 'text').execute();
  await sql`update volumes set cluster = (select h.cluster from hosts h where h.id = volumes.host_id) where host_id is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('volumes').dropColumn('cluster').execute();
  await db.schema.alterTable('datastores').dropColumn('capacity_mib').execute();
}
