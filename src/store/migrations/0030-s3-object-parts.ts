import type { Kysely } from 'kysely';

/**
 * `s3_objects.parts` (issue 14): a completed multipart upload keeps its
 * parts' blobs as they are, listed in order, instead of copying them into
 * one new file — CompleteMultipartUpload becomes one transaction, with no
 * copy of the data. Null for an object of one blob (every object before
 * this migration).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('s3_objects').addColumn('parts', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('s3_objects').dropColumn('parts').execute();
}
