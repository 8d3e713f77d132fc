import type { Kysely } from 'kysely';

/**
 * AWS-compatible identity and the S3 store.
 *
 * `access_keys`: a user's SigV4 keys. The secret is kept sealed (AES-256-GCM
 * under the controller's key file), not hashed: verifying a signature needs
 * the secret itself (HMAC), so a one-way hash would make every request
 * unverifiable. Deleting the row revokes the key for the next request.
 *
 * `s3_buckets`, `s3_objects`: object metadata; the bytes live under
 * NUBO_HOME/s3 in a file named by `blob_id` (opaque, never the key), so a key
 * is only ever a string in this table. `s3_uploads` and `s3_parts`: multipart
 * uploads in progress, each part a blob of its own until completion.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('access_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('access_keys_user_idx').on('access_keys').column('user_id').execute();

  await db.schema
    .createTable('s3_buckets')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('s3_buckets_owner_idx').on('s3_buckets').column('owner_id').execute();

  await db.schema
    .createTable('s3_objects')
    .addColumn('bucket', 'text', (c) => c.notNull().references('s3_buckets.name'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('blob_id', 'text', (c) => c.notNull().unique())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    // Content-Type, Cache-Control … and x-amz-meta-*, as JSON.
    .addColumn('headers', 'text', (c) => c.notNull())
    .addColumn('modified_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('s3_objects_pk', ['bucket', 'key'])
    .execute();

  await db.schema
    .createTable('s3_uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('bucket', 'text', (c) => c.notNull().references('s3_buckets.name'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('headers', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('s3_uploads_bucket_idx').on('s3_uploads').columns(['bucket', 'key']).execute();

  await db.schema
    .createTable('s3_parts')
    .addColumn('upload_id', 'text', (c) => c.notNull().references('s3_uploads.id').onDelete('cascade'))
    .addColumn('part_number', 'integer', (c) => c.notNull())
    .addColumn('blob_id', 'text', (c) => c.notNull().unique())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('etag', 'text', (c) => c.notNull())
    .addColumn('modified_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('s3_parts_pk', ['upload_id', 'part_number'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['s3_parts', 's3_uploads', 's3_objects', 's3_buckets', 'access_keys']) await db.schema.dropTable(t).execute();
}
