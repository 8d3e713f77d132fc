import type { Kysely } from 'kysely';

/**
 * An index on a VM's owner and name: every create checks that the owner has
 * no live VM of that name (record-new-vm.ts), and VMs are found by their
 * owner's name for them. With only the owner index, that check read every VM
 * of the owner — 1 ms a create at 3,000 VMs on SQLite, growing with each one
 * (the largest statement after commits in the 300-host bench, 10,000 VMs of one
 * owner in the 1,000-host one).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('vms_owner_name_idx').on('vms').columns(['owner_id', 'name']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('vms_owner_name_idx').execute();
}
