import { sql, type Kysely } from 'kysely';

/**
 * Volumes: data disks that live apart from any VM. A volume is a record
 * first; its file is made on a host when it is first attached, and from then
 * on it belongs to that host (`host_id`). `vm_id` is the VM it is attached
 * to and `slot` its place among that VM's volumes (which fixes its PCI slot,
 * so it is the same device after a reboot); both null when it is detached.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('volumes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('size_mib', 'bigint', (c) => c.notNull())
    .addColumn('host_id', 'text', (c) => c.references('hosts.id'))
    .addColumn('vm_id', 'text', (c) => c.references('vms.id'))
    .addColumn('slot', 'integer')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('volumes_owner_name_unique', ['owner_id', 'name'])
    .addCheckConstraint('volumes_size_check', sql`size_mib > 0`)
    .addCheckConstraint('volumes_attachment_check', sql`(vm_id is null) = (slot is null) and (vm_id is null or host_id is not null)`)
    .execute();
  // Two volumes of one VM never share a slot.
  await db.schema.createIndex('volumes_vm_slot_unique').on('volumes').columns(['vm_id', 'slot']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('volumes').execute();
}
