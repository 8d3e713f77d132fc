import type { Kysely } from 'kysely';

/**
 * OCCI's user-defined mixins (src/occi/, GFD.223): a user's own categories,
 * defined through the query interface, and the resources tagged with each.
 * Only the OCCI adaptor reads or writes them; each row is its owner's. No
 * foreign keys to nubo's tables: a tag of a resource that is gone is skipped
 * when read (and removed with its mixin), never in the way of a delete.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('occi_mixins')
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('scheme', 'text', (c) => c.notNull())
    .addColumn('term', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    // The kinds it applies to, space-separated identifiers ('' for any resource).
    .addColumn('applies', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('occi_mixins_pk', ['owner_id', 'scheme', 'term'])
    .addUniqueConstraint('occi_mixins_owner_location_unique', ['owner_id', 'location'])
    .execute();
  await db.schema.createTable('occi_mixin_members')
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('scheme', 'text', (c) => c.notNull())
    .addColumn('term', 'text', (c) => c.notNull())
    .addColumn('collection', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('occi_mixin_members_pk', ['owner_id', 'scheme', 'term', 'collection', 'entity_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('occi_mixin_members').execute();
  await db.schema.dropTable('occi_mixins').execute();
}
