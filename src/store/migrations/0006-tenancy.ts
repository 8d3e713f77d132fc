import { sql, type Kysely } from 'kysely';

/**
 * Tenancy: groups with members (a member may be the group's admin), shares of
 * images, templates and networks with groups, and API tokens as rows of their
 * own (several per user, named, revocable). Users get `deleted_at`: a deleted
 * user's terminated VMs still name them for accounting, so the row stays.
 *
 * `users.token_hash` stays (SQLite cannot drop a UNIQUE column) but is no
 * longer read: each existing user's token moves to `api_tokens` as "first".
 * Quotas per user and per group are meant to hang off `users` and `groups`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('deleted_at', 'text').execute();

  await db.schema
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // 0/1: the same integer on both dialects.
    .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  await db.schema.createIndex('group_members_user_idx').on('group_members').column('user_id').execute();

  await db.schema
    .createTable('shares')
    .addColumn('resource_kind', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('shares_pk', ['resource_kind', 'resource_id', 'group_id'])
    .addCheckConstraint('shares_kind_check', sql`resource_kind in ('image', 'template', 'network')`)
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('api_tokens_user_name_unique', ['user_id', 'name'])
    .execute();
  await sql`insert into api_tokens (id, user_id, name, token_hash, created_at) select 'first-' || id, id, 'first', token_hash, created_at from users`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['api_tokens', 'shares', 'group_members', 'groups']) await db.schema.dropTable(t).execute();
  await db.schema.alterTable('users').dropColumn('deleted_at').execute();
}
