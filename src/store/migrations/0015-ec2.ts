import { sql, type Kysely } from 'kysely';

/**
 * The EC2 Query API's own records (src/ec2/): AWS-form ids mapped to nubo's,
 * key pairs, security groups and their ingress rules, which groups each
 * instance is in, tags, and RunInstances' client tokens. Everything else an
 * EC2 caller touches (VMs, templates, volumes) is nubo's own record, reached
 * through the native API; these tables only add what EC2 has and nubo lacks.
 * No foreign keys to nubo's tables: a purged VM leaves its `i-` id resolvable
 * to "terminated/not found" rather than breaking the purge.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('ec2_ids')
    .addColumn('aws_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('instance', 'image', 'volume', 'snapshot')`))
    .addColumn('nubo_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('ec2_ids_kind_nubo_unique', ['kind', 'nubo_id'])
    .execute();
  await db.schema.createTable('ec2_key_pairs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_type', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('ec2_key_pairs_owner_name_unique', ['owner_id', 'name'])
    .execute();
  await db.schema.createTable('ec2_security_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('ec2_security_groups_owner_name_unique', ['owner_id', 'name'])
    .execute();
  await db.schema.createTable('ec2_security_group_rules')
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('from_port', 'integer', (c) => c.notNull())
    .addColumn('to_port', 'integer', (c) => c.notNull())
    .addColumn('cidr', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ec2_security_group_rules_pk', ['group_id', 'protocol', 'from_port', 'to_port', 'cidr'])
    .execute();
  // What RunInstances knew of an instance that nubo's VM record does not hold.
  await db.schema.createTable('ec2_instances')
    .addColumn('vm_id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('reservation_id', 'text', (c) => c.notNull())
    .addColumn('launch_index', 'integer', (c) => c.notNull())
    .addColumn('instance_type', 'text', (c) => c.notNull())
    .addColumn('key_name', 'text')
    .execute();
  await db.schema.createTable('ec2_instance_groups')
    .addColumn('vm_id', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ec2_instance_groups_pk', ['vm_id', 'group_id'])
    .execute();
  await db.schema.createIndex('ec2_instance_groups_group_idx').on('ec2_instance_groups').column('group_id').execute();
  await db.schema.createTable('ec2_tags')
    .addColumn('resource_id', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ec2_tags_pk', ['resource_id', 'key'])
    .execute();
  await db.schema.createIndex('ec2_tags_owner_idx').on('ec2_tags').column('owner_id').execute();
  await db.schema.createTable('ec2_client_tokens')
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('token', 'text', (c) => c.notNull())
    .addColumn('reservation_id', 'text', (c) => c.notNull())
    /** JSON array of nubo VM ids, written before the first VM is created (the journal of a RunInstances). */
    .addColumn('vm_ids', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('ec2_client_tokens_pk', ['owner_id', 'token'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['ec2_client_tokens', 'ec2_tags', 'ec2_instance_groups', 'ec2_instances', 'ec2_security_group_rules', 'ec2_security_groups', 'ec2_key_pairs', 'ec2_ids']) {
    await db.schema.dropTable(t).execute();
  }
}

