import { sql, type Expression, type SqlBool } from 'kysely';
import type { S3BucketsTable, S3ObjectsTable, S3PartsTable, S3UploadsTable } from '../schema.js';
import { InvariantError } from '../../errors/invariant-error.js';
import { inTransaction, isForeignKeyViolation, isUniqueViolation, type StoreContext } from '../store-context.js';

export interface S3Bucket { readonly name: string; readonly ownerId: string; readonly createdAt: string }
/** One blob of an object's bytes and how many bytes it holds. */
export interface BlobSpan { readonly blobId: string; readonly size: number }
export interface S3Object {
  readonly bucket: string; readonly key: string;
  /** The first (for most objects the only) blob. */
  readonly blobId: string;
  /** Every blob of the object, in order: one, or a completed multipart upload's parts as they were uploaded. Their sizes add up to `size`. */
  readonly blobs: readonly BlobSpan[];
  readonly size: number; readonly etag: string;
  readonly headers: Readonly<Record<string, string>>; readonly modifiedAt: string;
}
/** What makes an object: one blob (`blobId`), or several (`blobs`, the first of them `blobId`). */
export type S3ObjectInput = Omit<S3Object, 'modifiedAt' | 'blobs'> & { readonly blobs?: readonly BlobSpan[] | undefined };
export interface S3Upload { readonly id: string; readonly bucket: string; readonly key: string; readonly ownerId: string; readonly headers: Readonly<Record<string, string>>; readonly createdAt: string }
export interface S3Part { readonly uploadId: string; readonly partNumber: number; readonly blobId: string; readonly size: number; readonly etag: string; readonly modifiedAt: string }

const bucketOf = (r: S3BucketsTable): S3Bucket => ({ name: r.name, ownerId: r.owner_id, createdAt: r.created_at });
const spansOf = (r: Pick<S3ObjectsTable, 'blob_id' | 'parts' | 'size'>): BlobSpan[] =>
  r.parts === null ? [{ blobId: r.blob_id, size: Number(r.size) }] : (JSON.parse(r.parts) as [string, number][]).map(([blobId, size]) => ({ blobId, size }));
const objectOf = (r: S3ObjectsTable): S3Object => ({
  bucket: r.bucket, key: r.key, blobId: r.blob_id, blobs: spansOf(r), size: Number(r.size), etag: r.etag, headers: JSON.parse(r.headers) as Record<string, string>, modifiedAt: r.modified_at,
});
/** The row of a new object; several blobs must start with `blobId` and add up to `size` (a mistake here would serve wrong bytes, so it throws). */
function objectRow(o: S3ObjectInput, now: string): S3ObjectsTable {
  const many = o.blobs !== undefined && o.blobs.length > 1 ? o.blobs : undefined;
  if (many && (many[0]?.blobId !== o.blobId || many.reduce((n, b) => n + b.size, 0) !== o.size)) throw new InvariantError(`object ${o.bucket}/${o.key}: its blobs do not start with ${o.blobId} or do not add up to ${o.size} bytes`);
  return { bucket: o.bucket, key: o.key, blob_id: o.blobId, parts: many ? JSON.stringify(many.map((b) => [b.blobId, b.size])) : null, size: o.size, etag: o.etag, headers: JSON.stringify(o.headers), modified_at: now };
}
const blobIdsOf = (r: Pick<S3ObjectsTable, 'blob_id' | 'parts' | 'size'>): string[] => spansOf(r).map((b) => b.blobId);
const uploadOf = (r: S3UploadsTable): S3Upload => ({ id: r.id, bucket: r.bucket, key: r.key, ownerId: r.owner_id, headers: JSON.parse(r.headers) as Record<string, string>, createdAt: r.created_at });
const partOf = (r: S3PartsTable): S3Part => ({ uploadId: r.upload_id, partNumber: r.part_number, blobId: r.blob_id, size: Number(r.size), etag: r.etag, modifiedAt: r.modified_at });

/** The highest code point: every key that starts with P sorts below P + this (bytewise, as both dialects compare here). */
export const KEY_MAX_SUFFIX = '\u{10FFFF}';

/**
 * The S3 store's metadata: buckets, objects, multipart uploads and parts. Keys
 * are compared bytewise on both dialects (PostgreSQL's `COLLATE "C"`, SQLite's
 * default), so listings come in S3's order whatever the database's locale.
 * Every write that replaces or drops a blob returns the blob ids it let go,
 * for the caller to unlink after the commit.
 */
export class S3Repository {
  constructor(private readonly ctx: StoreContext) {}

  /** `key` as compared: bytewise. */
  #key(column = 'key'): ReturnType<typeof sql.ref> | Expression<string> {
    return this.ctx.dialect === 'postgres' ? sql<string>`${sql.ref(column)} collate "C"` : sql.ref(column);
  }

  /** @returns false when the name is taken (by anyone) */
  async createBucket(name: string, ownerId: string): Promise<boolean> {
    try {
      await this.ctx.db.insertInto('s3_buckets').values({ name, owner_id: ownerId, created_at: this.ctx.now() }).execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async getBucket(name: string): Promise<S3Bucket | undefined> {
    const r = await this.ctx.db.selectFrom('s3_buckets').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? bucketOf(r) : undefined;
  }

  async listBuckets(ownerId: string): Promise<S3Bucket[]> {
    return (await this.ctx.db.selectFrom('s3_buckets').selectAll().where('owner_id', '=', ownerId).orderBy('name').execute()).map(bucketOf);
  }

  /** @returns 'not-empty' while it holds objects or uploads */
  async deleteBucket(name: string): Promise<'deleted' | 'not-empty'> {
    return inTransaction(this.ctx, async (trx) => {
      const o = await trx.selectFrom('s3_objects').select('key').where('bucket', '=', name).limit(1).executeTakeFirst();
      const u = await trx.selectFrom('s3_uploads').select('id').where('bucket', '=', name).limit(1).executeTakeFirst();
      if (o || u) return 'not-empty';
      try {
        await trx.deleteFrom('s3_buckets').where('name', '=', name).execute();
      } catch (err) {
        if (isForeignKeyViolation(err)) return 'not-empty';
        throw err;
      }
      return 'deleted';
    });
  }

  async getObject(bucket: string, key: string): Promise<S3Object | undefined> {
    const r = await this.ctx.db.selectFrom('s3_objects').selectAll().where('bucket', '=', bucket).where('key', '=', key).executeTakeFirst();
    return r ? objectOf(r) : undefined;
  }

  /** Writes the object's row (its blobs already renamed into place); returns the blobs it replaced (none when there was no object). */
  async putObject(o: S3ObjectInput): Promise<{ object: S3Object; replaced: string[] }> {
    const row = objectRow(o, this.ctx.now());
    return inTransaction(this.ctx, async (trx) => {
      const old = await trx.deleteFrom('s3_objects').where('bucket', '=', o.bucket).where('key', '=', o.key).returning(['blob_id', 'parts', 'size']).executeTakeFirst();
      await trx.insertInto('s3_objects').values(row).execute();
      return { object: objectOf(row), replaced: old ? blobIdsOf(old) : [] };
    });
  }

  /** @returns the blobs let go, or undefined when there was no such object */
  async deleteObject(bucket: string, key: string): Promise<string[] | undefined> {
    const r = await this.ctx.db.deleteFrom('s3_objects').where('bucket', '=', bucket).where('key', '=', key).returning(['blob_id', 'parts', 'size']).executeTakeFirst();
    return r ? blobIdsOf(r) : undefined;
  }

  /**
   * Up to `limit` objects of the bucket with keys in [from, to) (bytewise),
   * after `after` when given, in key order.
   */
  async listObjects(bucket: string, o: { prefix: string; after?: string | undefined; limit: number }): Promise<S3Object[]> {
    let q = this.ctx.db.selectFrom('s3_objects').selectAll().where('bucket', '=', bucket);
    const k = this.#key() as Expression<string>;
    if (o.prefix !== '') q = q.where((eb) => eb.and([eb(k, '>=', o.prefix), eb(k, '<', o.prefix + KEY_MAX_SUFFIX)]) as Expression<SqlBool>);
    if (o.after !== undefined) q = q.where((eb) => eb(k, '>', o.after!));
    return (await q.orderBy(k).limit(o.limit).execute()).map(objectOf);
  }

  async createUpload(u: Omit<S3Upload, 'createdAt'>): Promise<S3Upload> {
    const row: S3UploadsTable = { id: u.id, bucket: u.bucket, key: u.key, owner_id: u.ownerId, headers: JSON.stringify(u.headers), created_at: this.ctx.now() };
    await this.ctx.db.insertInto('s3_uploads').values(row).execute();
    return uploadOf(row);
  }

  async getUpload(id: string): Promise<S3Upload | undefined> {
    const r = await this.ctx.db.selectFrom('s3_uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? uploadOf(r) : undefined;
  }

  async listUploads(bucket: string, prefix: string, limit: number): Promise<S3Upload[]> {
    const k = this.#key() as Expression<string>;
    let q = this.ctx.db.selectFrom('s3_uploads').selectAll().where('bucket', '=', bucket);
    if (prefix !== '') q = q.where((eb) => eb.and([eb(k, '>=', prefix), eb(k, '<', prefix + KEY_MAX_SUFFIX)]) as Expression<SqlBool>);
    return (await q.orderBy(k).orderBy('created_at').limit(limit).execute()).map(uploadOf);
  }

  /** Records a part (replacing one of the same number); returns the blob it replaced. Undefined: the upload is gone. */
  async putPart(p: Omit<S3Part, 'modifiedAt'>): Promise<{ replaced: string | undefined } | undefined> {
    return inTransaction(this.ctx, async (trx) => {
      const up = await trx.selectFrom('s3_uploads').select('id').where('id', '=', p.uploadId).executeTakeFirst();
      if (!up) return undefined;
      const old = await trx.deleteFrom('s3_parts').where('upload_id', '=', p.uploadId).where('part_number', '=', p.partNumber).returning('blob_id').executeTakeFirst();
      await trx.insertInto('s3_parts').values({ upload_id: p.uploadId, part_number: p.partNumber, blob_id: p.blobId, size: p.size, etag: p.etag, modified_at: this.ctx.now() }).execute();
      return { replaced: old?.blob_id };
    });
  }

  async listParts(uploadId: string): Promise<S3Part[]> {
    return (await this.ctx.db.selectFrom('s3_parts').selectAll().where('upload_id', '=', uploadId).orderBy('part_number').execute()).map(partOf);
  }

  /** Drops the upload and its parts; returns the parts' blobs to unlink (undefined: no such upload). */
  async deleteUpload(id: string): Promise<string[] | undefined> {
    return inTransaction(this.ctx, async (trx) => {
      const parts = await trx.selectFrom('s3_parts').select('blob_id').where('upload_id', '=', id).execute();
      const r = await trx.deleteFrom('s3_uploads').where('id', '=', id).returning('id').executeTakeFirst();
      if (!r) return undefined;
      return parts.map((p) => p.blob_id);
    });
  }

  /**
   * Completion's one commit: the object's row — its blobs the chosen parts'
   * own, in order, so no byte is copied — replaces any old one and the upload
   * goes, in one transaction. Returns the blobs let go (parts not chosen, the
   * old object's); undefined when the upload was completed or aborted
   * meanwhile, 'changed' when a chosen part was uploaded again meanwhile (its
   * blob is not the one chosen any more).
   */
  async completeUpload(uploadId: string, o: S3ObjectInput): Promise<{ object: S3Object; released: string[] } | 'changed' | undefined> {
    const row = objectRow(o, this.ctx.now());
    const chosen = new Set((o.blobs ?? [{ blobId: o.blobId }]).map((b) => b.blobId));
    return inTransaction(this.ctx, async (trx) => {
      const parts = (await trx.selectFrom('s3_parts').select('blob_id').where('upload_id', '=', uploadId).execute()).map((p) => p.blob_id);
      const current = new Set(parts);
      if ([...chosen].some((b) => !current.has(b))) {
        const up = await trx.selectFrom('s3_uploads').select('id').where('id', '=', uploadId).executeTakeFirst();
        return up ? 'changed' : undefined;
      }
      const gone = await trx.deleteFrom('s3_uploads').where('id', '=', uploadId).returning('id').executeTakeFirst();
      if (!gone) return undefined;
      // The chosen parts' rows go with the upload (cascade); their blobs are the object's now.
      await trx.deleteFrom('s3_parts').where('upload_id', '=', uploadId).execute();
      const old = await trx.deleteFrom('s3_objects').where('bucket', '=', o.bucket).where('key', '=', o.key).returning(['blob_id', 'parts', 'size']).executeTakeFirst();
      await trx.insertInto('s3_objects').values(row).execute();
      return { object: objectOf(row), released: [...parts.filter((b) => !chosen.has(b)), ...(old ? blobIdsOf(old) : [])] };
    });
  }

  /** Every blob id the store refers to (the start-up sweep keeps these and removes the rest). */
  async referencedBlobs(): Promise<Set<string>> {
    const objects = await this.ctx.db.selectFrom('s3_objects').select(['blob_id', 'parts', 'size']).execute();
    const parts = await this.ctx.db.selectFrom('s3_parts').select('blob_id').execute();
    return new Set([...objects.flatMap(blobIdsOf), ...parts.map((r) => r.blob_id)]);
  }
}
