import { sql, type Kysely } from 'kysely';

/**
 * The image store as an S3 bucket (Walrus' role): `_nubo-images`, whose
 * objects are the bytes of images registered from S3 objects, fetched by
 * agents through presigned GETs.
 *
 * A bucket's owner references `users`, so the system that owns this one is a
 * user row: `nubo-system`, created deleted — it has no token that hashes to
 * its `token_hash`, is in no listing (lists skip deleted users), cannot sign
 * with an access key (keys of deleted users are refused) and holds the name,
 * so nobody can be made under it. The controller signs for it with a key of
 * its own that lives only in memory (src/controller/image-objects.ts).
 *
 * The bucket's name has an underscore, which S3 bucket names may not: no user
 * could have created it before this migration, and none can afterwards.
 * Only its owner passes the S3 listener's ownership check, so users can
 * neither list nor read nor write it.
 */
export const SYSTEM_USER_ID = 'nubo-system';
export const IMAGE_BUCKET = '_nubo-images';

export async function up(db: Kysely<unknown>): Promise<void> {
  const now = new Date().toISOString();
  await sql`INSERT INTO users (id, name, role, token_hash, ssh_keys, created_at, deleted_at) VALUES (${SYSTEM_USER_ID}, ${SYSTEM_USER_ID}, 'user', ${'no-login:nubo-system'}, '[]', ${now}, ${now})`.execute(db);
  await sql`INSERT INTO s3_buckets (name, owner_id, created_at) VALUES (${IMAGE_BUCKET}, ${SYSTEM_USER_ID}, ${now})`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DELETE FROM s3_objects WHERE bucket = ${IMAGE_BUCKET}`.execute(db);
  await sql`DELETE FROM s3_buckets WHERE name = ${IMAGE_BUCKET}`.execute(db);
  await sql`DELETE FROM users WHERE id = ${SYSTEM_USER_ID}`.execute(db);
}
