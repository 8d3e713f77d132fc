import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha512';

/**
 * Hex digest of a file's bytes, read as a stream; aborting the signal stops the read. MD5 too (an S3 ETag), though no
 * manifest names it. `range`: only `count` bytes from `offset` (a multipart upload's part).
 */
export async function fileDigest(path: string, algorithm: DigestAlgorithm | 'md5', signal?: AbortSignal, range?: { readonly offset: number; readonly count: number }): Promise<string> {
  const hash = createHash(algorithm);
  const stream = range === undefined ? createReadStream(path) : createReadStream(path, { start: range.offset, end: range.offset + range.count - 1 });
  await pipeline(stream, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  }, { signal: signal ?? new AbortController().signal });
  return hash.digest('hex');
}
