import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { PayloadClaim } from '../aws/sigv4/verify-sigv4.js';
import type { Store } from '../store/open-store.js';
import type { S3Bucket } from '../store/repositories/s3-repository.js';
import type { Failpoints } from '../util/failpoints.js';
import type { S3BlobStore } from './s3-blob-store.js';
import { IMAGE_BUCKET } from '../store/migrations/0017-system-image-bucket.js';
import { noSuchBucket, S3Error } from './s3-error.js';

/** What every S3 operation is handed: the listener's parts. */
export interface S3Context {
  readonly store: Store;
  readonly blobs: S3BlobStore;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  /** Largest single PUT (S3: 5 GiB). */
  readonly maxObjectBytes: number;
}

/** One authenticated S3 request, routed. */
export interface S3Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  readonly query: ReadonlyMap<string, string>;
  readonly userId: string;
  readonly payload: PayloadClaim;
  readonly requestId: string;
  readonly signal: AbortSignal;
}

/** The bucket when the caller owns it: NoSuchBucket when absent, AccessDenied when another user's. */
export async function ownedBucket(ctx: S3Context, call: S3Call): Promise<S3Bucket> {
  const name = call.bucket ?? '';
  const b = await ctx.store.s3.getBucket(name);
  if (!b) throw noSuchBucket(name);
  if (b.ownerId !== call.userId) throw new S3Error(403, 'AccessDenied', 'Access Denied', { bucketName: name });
  return b;
}

/**
 * The bucket when the caller may read it: their own, or — for an admin — the
 * system bucket of images, read-only (its writes stay AccessDenied through
 * ownedBucket: only the controller writes image objects).
 */
export async function readableBucket(ctx: S3Context, call: S3Call): Promise<S3Bucket> {
  const name = call.bucket ?? '';
  if (name === IMAGE_BUCKET) {
    const b = await ctx.store.s3.getBucket(name);
    const u = await ctx.store.users.get(call.userId).catch(() => undefined);
    if (b && u?.role === 'admin' && u.deletedAt === null) return b;
  }
  return ownedBucket(ctx, call);
}

/** Sends a response with no body, or a small one (XML). */
export function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: string): void {
  const data = body === undefined ? undefined : Buffer.from(body, 'utf8');
  res.writeHead(status, { ...headers, ...(data ? { 'content-type': 'application/xml', 'content-length': data.length } : { 'content-length': headers['content-length'] ?? 0 }) });
  res.end(data);
}

export const quoted = (etag: string): string => `"${etag}"`;
export const isoTime = (t: string): string => new Date(t).toISOString();
export const httpTime = (t: string): string => new Date(t).toUTCString();

/** The request body, whole, for the small XML documents (Delete, CompleteMultipartUpload); larger is refused. */
export async function smallBody(stream: NodeJS.ReadableStream, limit = 2 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = c as Buffer;
    n += b.length;
    if (n > limit) throw new S3Error(400, 'MaxMessageLengthExceeded', `Your request was too big (more than ${limit} bytes).`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
