/** The digests HashPool computes: OpenSSL's hashes, and the CRCs S3 clients send as checksums (as 4 bytes, big-endian). */
export type PoolAlgorithm = 'md5' | 'sha1' | 'sha256' | 'crc32' | 'crc32c';

/** What HashPool and its worker thread say to each other. */
export type HashPoolRequest =
  | { readonly op: 'update'; readonly job: number; readonly algorithm: PoolAlgorithm; readonly data: Uint8Array }
  | { readonly op: 'digest'; readonly job: number; readonly algorithm: PoolAlgorithm }
  | { readonly op: 'drop'; readonly job: number };

export type HashPoolReply =
  | { readonly op: 'ack'; readonly job: number; readonly bytes: number }
  | { readonly op: 'digest'; readonly job: number; readonly hex: string }
  | { readonly op: 'error'; readonly job: number; readonly message: string };
