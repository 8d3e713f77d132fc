import { uriEncode } from '../aws/sigv4/canonical-request.js';
import type { S3Object } from '../store/repositories/s3-repository.js';
import { isoTime, ownedBucket, quoted, readableBucket, send, smallBody, type S3Call, type S3Context } from './s3-call.js';
import { invalidArgument, S3Error } from './s3-error.js';
import { listPage } from './s3-listing.js';
import { checkBucketName } from './s3-names.js';
import { parseS3Xml, s3Xml } from './s3-xml.js';

async function ownerXml(ctx: S3Context, userId: string): Promise<{ ID: string; DisplayName: string }> {
  const u = await ctx.store.users.get(userId);
  return { ID: u.id, DisplayName: u.name };
}

export async function listBuckets(ctx: S3Context, call: S3Call): Promise<void> {
  const buckets = await ctx.store.s3.listBuckets(call.userId);
  send(call.res, 200, {}, s3Xml('ListAllMyBucketsResult', {
    Owner: await ownerXml(ctx, call.userId),
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: isoTime(b.createdAt) })) },
  }));
}

export async function createBucket(ctx: S3Context, call: S3Call, body: NodeJS.ReadableStream): Promise<void> {
  const name = call.bucket ?? '';
  checkBucketName(name);
  // A CreateBucketConfiguration may name a location: any is accepted (one region), but it must be XML.
  const text = await smallBody(body);
  if (text.trim() !== '') parseS3Xml(text, 'CreateBucketConfiguration');
  if (!(await ctx.store.s3.createBucket(name, call.userId))) {
    const b = await ctx.store.s3.getBucket(name);
    if (b?.ownerId === call.userId) throw new S3Error(409, 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { bucketName: name });
    throw new S3Error(409, 'BucketAlreadyExists', 'The requested bucket name is not available. Please select a different name and try again.', { bucketName: name });
  }
  send(call.res, 200, { location: `/${name}` });
}

export async function deleteBucket(ctx: S3Context, call: S3Call): Promise<void> {
  const b = await ownedBucket(ctx, call);
  if ((await ctx.store.s3.deleteBucket(b.name)) === 'not-empty') throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', { bucketName: b.name });
  send(call.res, 204, {});
}

export async function headBucket(ctx: S3Context, call: S3Call): Promise<void> {
  await readableBucket(ctx, call);
  send(call.res, 200, { 'x-amz-bucket-region': 'nubo-1' });
}

export async function bucketLocation(ctx: S3Context, call: S3Call): Promise<void> {
  await readableBucket(ctx, call);
  send(call.res, 200, {}, s3Xml('LocationConstraint', { '#text': 'nubo-1' }));
}

function maxKeysOf(q: ReadonlyMap<string, string>, name = 'max-keys'): number {
  const v = q.get(name);
  if (v === undefined) return 1000;
  if (!/^\d{1,9}$/.test(v)) throw invalidArgument(`${name} must be a whole number from 0`, name, v);
  return Math.min(Number(v), 1000);
}

/** `encoding-type=url` (awscli asks for it): keys and prefixes URL-encoded in the answer. */
function encoderOf(q: ReadonlyMap<string, string>): (s: string) => string {
  const t = q.get('encoding-type');
  if (t === undefined) return (s) => s;
  if (t !== 'url') throw invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', t);
  return (s) => uriEncode(s, true);
}

const contentOf = (enc: (s: string) => string, owner: unknown) => (o: S3Object): Record<string, unknown> => ({
  Key: enc(o.key), LastModified: isoTime(o.modifiedAt), ETag: quoted(o.etag), Size: o.size, StorageClass: 'STANDARD', Owner: owner,
});

const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const token = (cursor: string): string => Buffer.from(cursor, 'utf8').toString('base64url');
function untoken(t: string): string {
  const s = Buffer.from(t, 'base64url').toString('utf8');
  if (t === '' || token(s) !== t) throw invalidArgument('The continuation token provided is incorrect', 'continuation-token', t);
  return s;
}

/** ListObjects (V1), ListObjectsV2 (`list-type=2`) and ListObjectVersions (`versions`: one `null` version per key, as an unversioned bucket answers). */
export async function listObjects(ctx: S3Context, call: S3Call, flavour: 'v1' | 'v2' | 'versions'): Promise<void> {
  const b = await readableBucket(ctx, call);
  const q = call.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = maxKeysOf(q);
  const enc = encoderOf(q);
  const startToken = q.get('continuation-token');
  const after = flavour === 'v2' ? (startToken !== undefined ? untoken(startToken) : q.get('start-after')) : flavour === 'v1' ? q.get('marker') : q.get('key-marker');
  const page = await listPage(ctx.store, b.name, { prefix, delimiter, after: after === '' ? undefined : after, maxKeys });
  const owner = await ownerXml(ctx, b.ownerId);
  const prefixes = page.prefixes.map((p) => ({ Prefix: enc(p) }));
  const common = { Name: b.name, Prefix: enc(prefix), Delimiter: delimiter === '' ? undefined : enc(delimiter), MaxKeys: maxKeys, EncodingType: q.has('encoding-type') ? 'url' : undefined };
  if (flavour === 'v2') {
    send(call.res, 200, {}, s3Xml('ListBucketResult', defined({
      ...common, KeyCount: page.contents.length + page.prefixes.length, IsTruncated: page.truncated,
      ContinuationToken: startToken, NextContinuationToken: page.truncated && page.cursor !== undefined ? token(page.cursor) : undefined,
      StartAfter: q.has('start-after') ? enc(q.get('start-after') ?? '') : undefined,
      Contents: page.contents.map(contentOf(enc, undefined)).map(defined), CommonPrefixes: prefixes,
    })));
  } else if (flavour === 'v1') {
    send(call.res, 200, {}, s3Xml('ListBucketResult', defined({
      ...common, Marker: enc(q.get('marker') ?? ''), IsTruncated: page.truncated,
      NextMarker: page.truncated && delimiter !== '' && page.last !== undefined ? enc(page.last) : undefined,
      Contents: page.contents.map(contentOf(enc, owner)), CommonPrefixes: prefixes,
    })));
  } else {
    send(call.res, 200, {}, s3Xml('ListVersionsResult', defined({
      ...common, KeyMarker: enc(q.get('key-marker') ?? ''), VersionIdMarker: q.get('version-id-marker') ?? '', IsTruncated: page.truncated,
      NextKeyMarker: page.truncated && page.last !== undefined ? enc(page.last) : undefined, NextVersionIdMarker: page.truncated ? 'null' : undefined,
      Version: page.contents.map((o) => ({ Key: enc(o.key), VersionId: 'null', IsLatest: true, LastModified: isoTime(o.modifiedAt), ETag: quoted(o.etag), Size: o.size, StorageClass: 'STANDARD', Owner: owner })),
      CommonPrefixes: prefixes,
    })));
  }
}
