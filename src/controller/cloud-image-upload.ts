import { open } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { classifyCloudError } from './cloud-ec2-client.js';
import { cloudS3Client } from './cloud-s3-object.js';

/** Parts of 8 MiB: above S3's 5 MiB minimum, small enough to hold one in memory per upload. */
const PART_BYTES = 8 * 1024 * 1024;

export interface UploadTarget {
  readonly cloud: string;
  readonly s3Endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  readonly requestTimeoutMs?: number | undefined;
}

/**
 * Uploads a local file to the remote's S3 as `bucket/key` with a multipart
 * upload (the way a large disk has to go; one part for a small one), making
 * the bucket if the account has none of that name. A failed upload is
 * aborted, so that no half object or orphan parts stay. Failures are
 * classified as the EC2 calls' are (unreachable: retried; refused: said).
 */
export async function uploadToCloudS3(t: UploadTarget, file: string, key: string, signal: AbortSignal): Promise<{ bytes: number; parts: number }> {
  // Path-style addressing and checksums only when required: what S3-compatible stores (nubo's among them) expect.
  const s3 = cloudS3Client(t);
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      if (signal.aborted) throw err;
      throw classifyCloudError(t.cloud, err);
    }
  };
  try {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: t.bucket }), { abortSignal: signal });
    } catch (err) {
      if (!(typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'BucketAlreadyOwnedByYou')) {
        if (signal.aborted) throw err;
        throw classifyCloudError(t.cloud, err);
      }
    }
    const started = await call(() => s3.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: key, ContentType: 'application/octet-stream' }), { abortSignal: signal }));
    const uploadId = started.UploadId ?? '';
    const fh = await open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let n = 1, at = 0; n === 1 || at < size; n++, at += PART_BYTES) {
        const length = Math.min(PART_BYTES, size - at);
        const body = Buffer.alloc(length);
        await fh.read(body, 0, length, at);
        const r = await call(() => s3.send(new UploadPartCommand({ Bucket: t.bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: length }), { abortSignal: signal }));
        parts.push({ PartNumber: n, ETag: r.ETag ?? '' });
      }
      await call(() => s3.send(new CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), { abortSignal: signal }));
      return { bytes: size, parts: parts.length };
    } catch (err) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw err;
    } finally {
      await fh.close();
    }
  } finally {
    s3.destroy();
  }
}
