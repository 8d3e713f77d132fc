import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { classifyCloudError } from './cloud-ec2-client.js';
import { CloudRefusedError } from './cloud-refused-error.js';
import type { UploadTarget } from './cloud-image-upload.js';

/** A client of the remote's S3 as nubo speaks to S3-compatible stores: path-style, checksums only when required, one attempt. */
export function cloudS3Client(t: UploadTarget): S3Client {
  const timeout = t.requestTimeoutMs ?? 60_000;
  return new S3Client({
    endpoint: t.s3Endpoint, region: t.region, credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey }, forcePathStyle: true, maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED', requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 5_000) },
  });
}

/**
 * Downloads `bucket/key` of the remote's S3 to `dest`: streamed to
 * `dest.part` (hashed on the way), synced, and renamed only when its sha256
 * equals the one the object carries (`x-amz-meta-sha256`, what nubo's
 * ExportImage writes) — a download that differs is refused
 * (`BadDigest`) and leaves nothing. Without that metadata the sha256 is
 * the caller's to compare.
 */
export async function downloadFromCloudS3(t: UploadTarget, key: string, dest: string, signal: AbortSignal): Promise<{ bytes: number; sha256: string; claimed: string | undefined }> {
  const s3 = cloudS3Client(t);
  const part = `${dest}.part`;
  try {
    let got;
    try {
      got = await s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }), { abortSignal: signal });
    } catch (err) {
      if (signal.aborted) throw err;
      throw classifyCloudError(t.cloud, err);
    }
    const claimed = got.Metadata?.['sha256'];
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({ transform(chunk: Buffer, _e, done) { hash.update(chunk); bytes += chunk.length; done(null, chunk); } });
    try {
      await pipeline(got.Body as Readable, tap, createWriteStream(part, { flags: 'w', mode: 0o600 }), { signal });
      const fh = await open(part, 'r');
      try { await fh.sync(); } finally { await fh.close(); }
    } catch (err) {
      await rm(part, { force: true });
      if (signal.aborted) throw err;
      throw classifyCloudError(t.cloud, err);
    }
    const sha256 = hash.digest('hex');
    if (claimed !== undefined && claimed !== sha256) {
      await rm(part, { force: true });
      throw new CloudRefusedError(t.cloud, 'BadDigest', `${t.bucket}/${key}: downloaded ${bytes} bytes of sha256 ${sha256}, the object says ${claimed}`);
    }
    await rename(part, dest);
    return { bytes, sha256, claimed };
  } finally {
    s3.destroy();
  }
}

/** Deletes `bucket/key` of the remote's S3 (a missing object is no error, as S3 says). */
export async function deleteFromCloudS3(t: UploadTarget, key: string, signal: AbortSignal): Promise<void> {
  const s3 = cloudS3Client(t);
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: key }), { abortSignal: signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw classifyCloudError(t.cloud, err);
  } finally {
    s3.destroy();
  }
}
