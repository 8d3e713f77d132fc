import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { payloadReader } from '../aws/sigv4/payload-reader.js';
import type { S3Upload } from '../store/repositories/s3-repository.js';
import { isoTime, ownedBucket, quoted, send, smallBody, type S3Call, type S3Context } from './s3-call.js';
import { invalidArgument, noSuchUpload, S3Error } from './s3-error.js';
import { checkKey } from './s3-names.js';
import { storedHeaders } from './s3-object-headers.js';
import { readObjectRange } from './read-object-range.js';
import { copySource, parseRange, receiveBlob } from './s3-object-ops.js';
import { asList, parseS3Xml, s3Xml } from './s3-xml.js';

/** Every part but the last must be at least this (S3's rule). */
const MIN_PART_BYTES = 5 << 20;

async function uploadOf(ctx: S3Context, call: S3Call): Promise<S3Upload> {
  const b = await ownedBucket(ctx, call);
  const id = call.query.get('uploadId') ?? '';
  const u = await ctx.store.s3.getUpload(id);
  if (!u || u.bucket !== b.name || u.key !== call.key) throw noSuchUpload(id);
  return u;
}

export async function createUpload(ctx: S3Context, call: S3Call): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const key = call.key ?? '';
  checkKey(key);
  const u = await ctx.store.s3.createUpload({ id: randomBytes(24).toString('base64url'), bucket: b.name, key, ownerId: call.userId, headers: storedHeaders(call.req.headers) });
  send(call.res, 200, {}, s3Xml('InitiateMultipartUploadResult', { Bucket: b.name, Key: key, UploadId: u.id }));
}

function partNumberOf(call: S3Call): number {
  const v = call.query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(v) ? Number(v) : 0;
  if (n < 1 || n > 10_000) throw invalidArgument('Part number must be an integer between 1 and 10000, inclusive', 'partNumber', v);
  return n;
}

/** UploadPart, or UploadPartCopy when `x-amz-copy-source` is given (with an optional `x-amz-copy-source-range`). */
export async function uploadPart(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<void> {
  const u = await uploadOf(ctx, call);
  const partNumber = partNumberOf(call);
  const copying = call.req.headers['x-amz-copy-source'] !== undefined;
  let blob: { blobId: string; size: number; md5: string };
  if (copying) {
    await smallBody(body);
    const src = await copySource(ctx, call);
    const rangeHeader = call.req.headers['x-amz-copy-source-range'];
    const range = parseRange(typeof rangeHeader === 'string' ? rangeHeader : undefined, src.size);
    // Read across the source's parts when it is a multipart object itself.
    blob = await readObjectRange(ctx.blobs, src.blobs, range?.start ?? 0, range?.end ?? src.size - 1, (stream) =>
      ctx.blobs.write(stream, undefined, { signal: call.signal, maxBytes: ctx.maxObjectBytes, onTooLarge: () => new S3Error(400, 'EntityTooLarge', 'part too large') }));
  } else {
    blob = await receiveBlob(ctx, call, body);
  }
  const r = await ctx.store.s3.putPart({ uploadId: u.id, partNumber, blobId: blob.blobId, size: blob.size, etag: blob.md5 });
  if (!r) {
    await ctx.blobs.remove([blob.blobId]);
    throw noSuchUpload(u.id);
  }
  if (r.replaced) await ctx.blobs.remove([r.replaced]);
  if (copying) send(call.res, 200, {}, s3Xml('CopyPartResult', { LastModified: isoTime(new Date().toISOString()), ETag: quoted(blob.md5) }));
  else send(call.res, 200, { etag: quoted(blob.md5) });
}

/**
 * CompleteMultipartUpload: the named parts (ascending, each known with its
 * ETag, all but the last ≥ 5 MiB) become the object as they are — its blobs
 * are the parts' blobs, in order, and no byte is copied. One store
 * transaction makes the object and drops the upload, so a crash leaves
 * either the upload (before the commit) or the object (after it), never
 * both; blobs of parts not chosen and of the object it replaced are removed
 * after the commit, or by the start-up sweep when a crash came first.
 */
export async function completeUpload(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<void> {
  const u = await uploadOf(ctx, call);
  const doc = parseS3Xml(await smallBody(Readable.from(body).pipe(payloadReader(call.payload, call.req.headers))), 'CompleteMultipartUpload');
  const asked = asList(doc['Part']).map((p) => {
    const r = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    const n = Number(r['PartNumber']);
    const etag = typeof r['ETag'] === 'string' ? r['ETag'].replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '') : '';
    if (!Number.isInteger(n) || etag === '') throw new S3Error(400, 'MalformedXML', 'Every <Part> needs a <PartNumber> and an <ETag>.');
    return { n, etag };
  });
  if (asked.length === 0) throw new S3Error(400, 'MalformedXML', 'You must specify at least one part');
  const parts = new Map((await ctx.store.s3.listParts(u.id)).map((p) => [p.partNumber, p]));
  if (asked.some(({ n }, i) => i > 0 && n <= asked[i - 1]!.n)) {
    throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.');
  }
  const chosen = asked.map(({ n, etag }, i) => {
    const p = parts.get(n);
    if (!p || p.etag !== etag) throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part\'s entity tag.', { partNumber: n });
    if (i < asked.length - 1 && p.size < MIN_PART_BYTES) throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { partNumber: n, size: p.size });
    return p;
  });
  const md5s = createHash('md5');
  for (const p of chosen) md5s.update(Buffer.from(p.etag, 'hex'));
  const etag = `${md5s.digest('hex')}-${chosen.length}`;
  const size = chosen.reduce((s, p) => s + p.size, 0);
  await ctx.failpoints?.hit('s3.complete-upload.before-commit');
  const blobs = chosen.map((p) => ({ blobId: p.blobId, size: p.size }));
  const done = await ctx.store.s3.completeUpload(u.id, { bucket: u.bucket, key: u.key, blobId: blobs[0]?.blobId ?? '', blobs, size, etag, headers: u.headers });
  if (done === undefined) throw noSuchUpload(u.id);
  // A part uploaded again after its listing: its new bytes are not what the client's ETag named — as S3 does, the part is refused.
  if (done === 'changed') throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part\'s entity tag.');
  // Committed: the parts are no one's now. A crash before they are removed leaves them to the start-up sweep.
  await ctx.failpoints?.hit('s3.complete-upload.after-commit');
  await ctx.blobs.remove(done.released);
  send(call.res, 200, {}, s3Xml('CompleteMultipartUploadResult', { Location: `/${u.bucket}/${u.key}`, Bucket: u.bucket, Key: u.key, ETag: quoted(etag) }));
}

export async function abortUpload(ctx: S3Context, call: S3Call): Promise<void> {
  const u = await uploadOf(ctx, call);
  const blobs = await ctx.store.s3.deleteUpload(u.id);
  if (!blobs) throw noSuchUpload(u.id);
  await ctx.blobs.remove(blobs);
  send(call.res, 204, {});
}

export async function listParts(ctx: S3Context, call: S3Call): Promise<void> {
  const u = await uploadOf(ctx, call);
  const after = Number(call.query.get('part-number-marker') ?? '0') || 0;
  const max = Math.min(Number(call.query.get('max-parts') ?? '1000') || 1000, 1000);
  const all = (await ctx.store.s3.listParts(u.id)).filter((p) => p.partNumber > after);
  const page = all.slice(0, max);
  const user = await ctx.store.users.get(u.ownerId);
  const owner = { ID: user.id, DisplayName: user.name };
  send(call.res, 200, {}, s3Xml('ListPartsResult', {
    Bucket: u.bucket, Key: u.key, UploadId: u.id, Initiator: owner, Owner: owner, StorageClass: 'STANDARD',
    PartNumberMarker: after, NextPartNumberMarker: page.at(-1)?.partNumber ?? after, MaxParts: max, IsTruncated: all.length > page.length,
    Part: page.map((p) => ({ PartNumber: p.partNumber, LastModified: isoTime(p.modifiedAt), ETag: quoted(p.etag), Size: p.size })),
  }));
}

export async function listUploads(ctx: S3Context, call: S3Call): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const prefix = call.query.get('prefix') ?? '';
  const max = Math.min(Number(call.query.get('max-uploads') ?? '1000') || 1000, 1000);
  const uploads = await ctx.store.s3.listUploads(b.name, prefix, max + 1);
  const page = uploads.slice(0, max);
  const user = await ctx.store.users.get(b.ownerId);
  const owner = { ID: user.id, DisplayName: user.name };
  send(call.res, 200, {}, s3Xml('ListMultipartUploadsResult', {
    Bucket: b.name, KeyMarker: '', UploadIdMarker: '', Prefix: prefix, MaxUploads: max, IsTruncated: uploads.length > max,
    Upload: page.map((x) => ({ Key: x.key, UploadId: x.id, Initiator: owner, Owner: owner, StorageClass: 'STANDARD', Initiated: isoTime(x.createdAt) })),
  }));
}
