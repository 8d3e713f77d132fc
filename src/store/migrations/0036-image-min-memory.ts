import type { Kysely } from 'kysely';

/**
 * `images.min_memory_mib`: the least memory a VM booting from the image is
 * given (as Glance's `min_ram`); create and resize refuse less. Images from
 * before get the API's floor, 64 (core/memory-minimum.ts): what they need was
 * never stated, and VMs already made from them keep their size.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('images').addColumn('min_memory_mib', 'integer', (c) => c.notNull().defaultTo(64)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('images').dropColumn('min_memory_mib').execute();
}
