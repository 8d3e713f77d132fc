import type { IsoTime } from './schema.js';

/* The access-key and S3 rows (migration 0014), apart from schema.ts so that each feature's row types stay together. */

/** A user's SigV4 access key (0014); the secret sealed with the controller's key (AES-256-GCM), since HMAC verification needs it whole. */
export interface AccessKeysTable {
  /** `AKIA…`, 20 characters: the access key id clients send. */
  id: string;
  user_id: string;
  description: string;
  secret_sealed: string;
  created_at: IsoTime;
}

export interface S3BucketsTable {
  name: string;
  owner_id: string;
  created_at: IsoTime;
}

/** An object's metadata; its bytes are the file named `blob_id` under NUBO_HOME/s3, or the files of `parts` in order. */
export interface S3ObjectsTable {
  bucket: string;
  key: string;
  /** The (first) blob. */
  blob_id: string;
  /**
   * A completed multipart upload's blobs (0030): JSON `[[blobId, size], …]`,
   * every part in order, the first being `blob_id`; null for an object of one
   * blob.
   */
  parts: string | null;
  size: number;
  etag: string;
  /** JSON object of the stored headers (content-type, x-amz-meta-* …). */
  headers: string;
  modified_at: IsoTime;
}

export interface S3UploadsTable {
  id: string;
  bucket: string;
  key: string;
  owner_id: string;
  headers: string;
  created_at: IsoTime;
}

export interface S3PartsTable {
  upload_id: string;
  part_number: number;
  blob_id: string;
  size: number;
  etag: string;
  modified_at: IsoTime;
}
