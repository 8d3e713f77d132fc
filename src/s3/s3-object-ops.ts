import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { payloadReader } from '../aws/sigv4/payload-reader.js';
import { uriDecode } from '../aws/sigv4/canonical-request.js';
import type { S3Object } from '../store/repositories/s3-repository.js';
import { httpTime, isoTime, ownedBucket, quoted, readableBucket, send, smallBody, type S3Call, type S3Context } from './s3-call.js';
import { sendObjectRange } from './send-object-range.js';
import { invalidArgument, noSuchBucket, noSuchKey, S3Error } from './s3-error.js';
import { checkKey } from './s3-names.js';
import { storedHeaders } from './s3-object-headers.js';
import { asList, parseS3Xml, s3Xml } from './s3-xml.js';

const tooLarge = (max: number) => (): S3Error => new S3Error(400, 'EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${max} bytes).`);

/** Writes the request's body as a new blob, verified against its signature, Content-MD5 and checksums; nothing is kept on failure. */
export async function receiveBlob(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<{ blobId: string; size: number; md5: string }> {
  const announced = Number(call.req.headers['x-amz-decoded-content-length'] ?? call.req.headers['content-length'] ?? NaN);
  const blob = await ctx.blobs.write(body, payloadReader(call.payload, call.req.headers), {
    signal: call.signal, maxBytes: ctx.maxObjectBytes, onTooLarge: tooLarge(ctx.maxObjectBytes), sizeHint: Number.isFinite(announced) ? announced : undefined,
  });
  const md5 = call.req.headers['content-md5'];
  if (md5 !== undefined && Buffer.from(blob.md5, 'hex').toString('base64') !== md5) {
    await ctx.blobs.remove([blob.blobId]);
    throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  return blob;
}

export async function putObject(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const key = call.key ?? '';
  checkKey(key);
  const blob = await receiveBlob(ctx, call, body);
  try {
    // The bytes are in place under their id; the row makes them the object. A crash here leaves an unreferenced blob for the sweep.
    await ctx.failpoints?.hit('s3.put-object.before-commit');
    const { replaced } = await ctx.store.s3.putObject({ bucket: b.name, key, blobId: blob.blobId, size: blob.size, etag: blob.md5, headers: storedHeaders(call.req.headers) });
    await ctx.blobs.remove(replaced);
  } catch (err) {
    await ctx.blobs.remove([blob.blobId]);
    throw err;
  }
  send(call.res, 200, { etag: quoted(blob.md5) });
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive [start, end]; undefined when absent. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // S3 ignores a Range it cannot parse
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    start = Math.max(0, size - n);
    end = size - 1;
    if (n === 0) start = size;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', { rangeRequested: header, actualObjectSize: size });
  return { start, end };
}

function objectHeaders(o: S3Object): Record<string, string | number> {
  return { ...o.headers, etag: quoted(o.etag), 'last-modified': httpTime(o.modifiedAt), 'accept-ranges': 'bytes' };
}

async function readableObject(ctx: S3Context, call: S3Call): Promise<S3Object> {
  const b = await readableBucket(ctx, call);
  const key = call.key ?? '';
  checkKey(key);
  const o = await ctx.store.s3.getObject(b.name, key);
  if (!o) throw noSuchKey(key);
  return o;
}

/**
 * GetObject and HeadObject, whole or a Range, of an object of one blob or of
 * a multipart upload's parts (read across them in order). HEAD answers from
 * the row alone; a GET sends the file's bytes as they are read, in large
 * reads into two buffers used in turn, straight to the socket (sendObjectRange).
 */
export async function getObject(ctx: S3Context, call: S3Call, head: boolean): Promise<void> {
  const o = await readableObject(ctx, call);
  const range = parseRange(call.req.headers.range, o.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? o.size - 1;
  const length = o.size === 0 ? 0 : end - start + 1;
  const headers = { ...objectHeaders(o), 'content-length': length, ...(range ? { 'content-range': `bytes ${start}-${end}/${o.size}` } : {}) };
  const status = range ? 206 : 200;
  if (head || length === 0) {
    call.res.writeHead(status, headers);
    call.res.end();
    return;
  }
  // A client gone early closes the response, which stops the reads (no abort signal: the request's fires on that same close).
  await sendObjectRange(ctx.blobs, o.blobs, start, end, call.res, () => call.res.writeHead(status, headers));
}

export async function deleteObject(ctx: S3Context, call: S3Call): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const key = call.key ?? '';
  checkKey(key);
  await ctx.blobs.remove(await ctx.store.s3.deleteObject(b.name, key) ?? []);
  send(call.res, 204, {});
}

/** `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, maybe `?versionId=null`. The caller must own the source bucket too. */
export async function copySource(ctx: S3Context, call: S3Call): Promise<S3Object> {
  const raw = call.req.headers['x-amz-copy-source'];
  const text = typeof raw === 'string' ? raw.replace(/^\//, '').split('?')[0] ?? '' : '';
  const decoded = uriDecode(text);
  const slash = decoded?.indexOf('/') ?? -1;
  if (decoded === undefined || slash <= 0) throw invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 'x-amz-copy-source', text);
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  const b = await ctx.store.s3.getBucket(bucket);
  if (!b) throw noSuchBucket(bucket);
  if (b.ownerId !== call.userId) throw new S3Error(403, 'AccessDenied', 'Access Denied', { bucketName: bucket });
  const o = await ctx.store.s3.getObject(bucket, key);
  if (!o) throw noSuchKey(key);
  return o;
}

export async function copyObject(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const key = call.key ?? '';
  checkKey(key);
  await smallBody(body);
  const src = await copySource(ctx, call);
  const directive = call.req.headers['x-amz-metadata-directive'] ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE') throw invalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', String(directive));
  // A copy of each blob (a multipart object stays one of parts, its ETag with it): the source may be overwritten or deleted later.
  const copies = await ctx.blobs.copyEach(src.blobs.map((s) => s.blobId), call.signal);
  try {
    const headers = directive === 'REPLACE' ? storedHeaders(call.req.headers) : src.headers;
    const blobs = copies.map((blobId, i) => ({ blobId, size: src.blobs[i]?.size ?? 0 }));
    const { object, replaced } = await ctx.store.s3.putObject({ bucket: b.name, key, blobId: copies[0] ?? '', blobs, size: src.size, etag: src.etag, headers });
    await ctx.blobs.remove(replaced);
    send(call.res, 200, {}, s3Xml('CopyObjectResult', { LastModified: isoTime(object.modifiedAt), ETag: quoted(object.etag) }));
  } catch (err) {
    await ctx.blobs.remove(copies);
    throw err;
  }
}

/** DeleteObjects (POST ?delete): up to 1000 keys, each reported deleted or with its error. */
export async function deleteObjects(ctx: S3Context, call: S3Call, body: IncomingMessage): Promise<void> {
  const b = await ownedBucket(ctx, call);
  const text = await smallBody(Readable.from(body).pipe(payloadReader(call.payload, call.req.headers)));
  const doc = parseS3Xml(text, 'Delete');
  const objects = asList(doc['Object']);
  if (objects.length === 0 || objects.length > 1000) throw new S3Error(400, 'MalformedXML', 'The Delete request must name from 1 to 1000 objects.');
  const quiet = doc['Quiet'] === 'true';
  const deleted: Record<string, unknown>[] = [];
  const errors: Record<string, unknown>[] = [];
  for (const item of objects) {
    const key = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['Key'] : undefined;
    if (typeof key !== 'string') throw new S3Error(400, 'MalformedXML', 'Every <Object> of a Delete request needs a <Key>.');
    try {
      checkKey(key);
      await ctx.blobs.remove(await ctx.store.s3.deleteObject(b.name, key) ?? []);
      if (!quiet) deleted.push({ Key: key });
    } catch (err) {
      if (!(err instanceof S3Error)) throw err;
      errors.push({ Key: key, Code: err.s3Code, Message: err.message });
    }
  }
  send(call.res, 200, {}, s3Xml('DeleteResult', { Deleted: deleted, Error: errors }));
}
