import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Dialect } from '../schema.js';

/**
 * The first schema. Portable DDL only: text ids, ISO text timestamps, JSON as
 * text, integer counters; the one dialect difference is the auto-increment
 * key (SQLite `integer primary key autoincrement`, PostgreSQL `bigserial`).
 * CHECK constraints are the last line of defence behind the repositories'
 * validation (a negative reservation must be impossible, not just unlikely).
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const serial = <T extends string>(t: CreateTableBuilder<T>, name: string): CreateTableBuilder<T> =>
    dialect === 'postgres'
      ? t.addColumn(name, 'bigserial', (c) => c.primaryKey())
      : t.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement());
  const inList = (col: string, values: readonly string[]) =>
    sql`${sql.ref(col)} in (${sql.join(values.map((v) => sql.lit(v)))})`;

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('ssh_keys', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('users_role_check', inList('role', ['admin', 'user']))
    .execute();

  await db.schema
    .createTable('hosts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('agent_url', 'text', (c) => c.notNull())
    .addColumn('agent_token', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('cpu_model', 'text', (c) => c.notNull())
    .addColumn('cpu_flags', 'text', (c) => c.notNull())
    .addColumn('total_cpus', 'integer', (c) => c.notNull())
    .addColumn('total_memory_mib', 'bigint', (c) => c.notNull())
    .addColumn('total_disk_mib', 'bigint', (c) => c.notNull())
    .addColumn('reserved_cpus', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_memory_mib', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_disk_mib', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('usage', 'text')
    .addColumn('last_heartbeat_at', 'text')
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('hosts_state_check', inList('state', ['init', 'enabled', 'disabled', 'error', 'offline']))
    .addCheckConstraint('hosts_totals_check', sql`total_cpus >= 0 and total_memory_mib >= 0 and total_disk_mib >= 0`)
    .addCheckConstraint('hosts_reserved_check', sql`reserved_cpus >= 0 and reserved_memory_mib >= 0 and reserved_disk_mib >= 0`)
    .execute();

  await db.schema
    .createTable('datastores')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.references('hosts.id'))
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('datastores_kind_check', inList('kind', ['local', 'shared', 'image']))
    .execute();

  await db.schema
    .createTable('images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('virtual_size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('images_owner_name_unique', ['owner_id', 'name'])
    .addCheckConstraint('images_format_check', inList('format', ['qcow2', 'raw', 'kernel', 'initrd']))
    .addCheckConstraint('images_state_check', inList('state', ['ready', 'deleting']))
    .addCheckConstraint('images_size_check', sql`size_bytes >= 0 and virtual_size_bytes >= 0`)
    .execute();

  await db.schema
    .createTable('templates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('memory_mib', 'bigint', (c) => c.notNull())
    .addColumn('disks', 'text', (c) => c.notNull())
    .addColumn('nics', 'text', (c) => c.notNull())
    .addColumn('context', 'text', (c) => c.notNull())
    .addColumn('requirements', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('templates_owner_name_unique', ['owner_id', 'name'])
    .addCheckConstraint('templates_size_check', sql`vcpus > 0 and memory_mib > 0`)
    .execute();

  await db.schema
    .createTable('vms')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('template_id', 'text', (c) => c.references('templates.id').onDelete('set null'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('host_id', 'text', (c) => c.references('hosts.id'))
    .addColumn('spec', 'text', (c) => c.notNull())
    // The action in flight, {action, from} as JSON: enough to re-derive its plan after a restart.
    .addColumn('operation', 'text')
    .addColumn('reserved_cpus', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_memory_mib', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('reserved_disk_mib', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addCheckConstraint('vms_reserved_check', sql`reserved_cpus >= 0 and reserved_memory_mib >= 0 and reserved_disk_mib >= 0`)
    .execute();
  await db.schema.createIndex('vms_owner_idx').on('vms').column('owner_id').execute();
  await db.schema.createIndex('vms_host_idx').on('vms').column('host_id').execute();
  await db.schema.createIndex('vms_state_idx').on('vms').column('state').execute();

  await serial(db.schema.createTable('vm_history'), 'id')
    .addColumn('vm_id', 'text', (c) => c.notNull().references('vms.id'))
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vm_history_vm_idx').on('vm_history').columns(['vm_id', 'id']).execute();

  await db.schema
    .createTable('networks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('cidr', 'text', (c) => c.notNull())
    .addColumn('gateway', 'text')
    .addColumn('dns', 'text', (c) => c.notNull())
    .addColumn('vlan', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addCheckConstraint('networks_vlan_check', sql`vlan is null or (vlan >= 1 and vlan <= 4094)`)
    .execute();

  await db.schema
    .createTable('leases')
    .addColumn('network_id', 'text', (c) => c.notNull().references('networks.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('vm_id', 'text', (c) => c.references('vms.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('leases_pk', ['network_id', 'address'])
    .addUniqueConstraint('leases_network_ordinal_unique', ['network_id', 'ordinal'])
    .addCheckConstraint('leases_state_check', inList('state', ['free', 'leased', 'held']))
    .addCheckConstraint('leases_vm_check', sql`(state = 'leased') = (vm_id is not null)`)
    .execute();
  await db.schema.createIndex('leases_vm_idx').on('leases').column('vm_id').execute();
  await db.schema.createIndex('leases_free_idx').on('leases').columns(['network_id', 'state', 'ordinal']).execute();

  await db.schema
    .createTable('migrations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('vm_id', 'text', (c) => c.notNull().references('vms.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('source_host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('dest_host_id', 'text', (c) => c.notNull().references('hosts.id'))
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('journal', 'text', (c) => c.notNull())
    .addColumn('stats', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addCheckConstraint('migrations_kind_check', inList('kind', ['live', 'cold']))
    .addCheckConstraint('migrations_state_check', inList('state', ['running', 'succeeded', 'failed', 'aborted']))
    .execute();
  await db.schema.createIndex('migrations_state_idx').on('migrations').column('state').execute();
  // At most one unfinished migration per VM, enforced by the database (a partial index works on both dialects).
  await db.schema
    .createIndex('migrations_one_running_per_vm')
    .on('migrations')
    .column('vm_id')
    .unique()
    .where(sql.ref('state'), '=', sql.lit('running'))
    .execute();

  await serial(db.schema.createTable('events'), 'seq')
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['events', 'migrations', 'leases', 'networks', 'vm_history', 'vms', 'templates', 'images', 'datastores', 'hosts', 'users']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
