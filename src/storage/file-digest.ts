import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** Hex digest of a file's bytes, read as a stream; aborting the signal stops the read. MD5 too (an S3 ETag), though no manifest names it. */
export async function fileDigest(path: string, algorithm: DigestAlgorithm | 'md5', signal?: AbortSignal): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  }, { signal: signal ?? new AbortController().signal });
  return hash.digest('hex');
}
