import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

/**
 * Clusters (issue 18): hosts belong to one; a cluster is an EC2 availability
 * zone. Every existing host goes into the cluster `default`, made here, so a
 * one-cluster cloud behaves as before. Hosts name their cluster by name
 * (names are never changed, and the name is what requirements, templates and
 * zones speak). Networks, datastores and templates may name one: null means
 * every cluster (networks, datastores) or none asked for (templates).
 */
const DEFAULT_CLUSTER_ROW_NAME = 'default';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('clusters')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await sql`insert into clusters (id, name, description, created_at) values (${randomUUID()}, ${DEFAULT_CLUSTER_ROW_NAME}, ${'every host not put in another cluster'}, ${new Date().toISOString()})`.execute(db);
  await db.schema.alterTable('hosts').addColumn('cluster', 'text', (c) => c.notNull().defaultTo(DEFAULT_CLUSTER_ROW_NAME)).execute();
  await db.schema.createIndex('hosts_cluster').on('hosts').column('cluster').execute();
  await db.schema.alterTable('networks').addColumn('cluster', 'text').execute();
  await db.schema.alterTable('datastores').addColumn('cluster', 'text').execute();
  await db.schema.alterTable('templates').addColumn('cluster', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('templates').dropColumn('cluster').execute();
  await db.schema.alterTable('datastores').dropColumn('cluster').execute();
  await db.schema.alterTable('networks').dropColumn('cluster').execute();
  await db.schema.dropIndex('hosts_cluster').execute();
  await db.schema.alterTable('hosts').dropColumn('cluster').execute();
  await db.schema.dropTable('clusters').execute();
}
