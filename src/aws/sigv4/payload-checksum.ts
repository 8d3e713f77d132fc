import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { sharedHashPool } from '../../util/hash-pool.js';

/** The `x-amz-checksum-*` algorithms nubo verifies (CRC64NVME is not among them: refused, never skipped). */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/**
 * A running digest of a body as it streams: the signed SHA-256 of a plain
 * body, or an `x-amz-checksum-*` (whose headers and trailers carry it in
 * base64). Computed here, or on a thread of the hash pool.
 */
export interface PayloadChecksum {
  /** Feeds `data`; a promise when the work went to a thread, settled once there is room for more (else undefined). */
  update(data: Buffer): Promise<void> | undefined;
  /** The digest's bytes (a CRC's 4 bytes big-endian), after every update. */
  digest(): Promise<Buffer>;
  /** Abandons it (a body that failed): a thread's job is forgotten. */
  drop(): void;
}

export function isChecksumAlgorithm(name: string): name is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(name);
}

const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/**
 * A running digest of the named algorithm. `onThread`: on the shared hash
 * pool's threads (a large body: SHA-256 runs at about 1.3 GB/s and CRC32C in
 * JavaScript much slower, time the event loop would otherwise not serve
 * sockets in; the pool copies each update once and runs beside the disk
 * write); else here (a small body, where a thread's round trip costs more).
 */
export function payloadChecksum(algorithm: ChecksumAlgorithm | 'md5', o: { onThread: boolean }): PayloadChecksum {
  if (o.onThread) {
    const h = sharedHashPool().open(algorithm);
    return { update: (d) => h.update(d), digest: async () => Buffer.from(await h.digest(), 'hex'), drop: () => h.drop() };
  }
  switch (algorithm) {
    case 'crc32': {
      let v = 0;
      return { update: (d) => void (v = crc32(d, v)), digest: () => Promise.resolve(be32(v)), drop: () => undefined };
    }
    case 'crc32c': {
      const c = new Crc32c();
      return { update: (d) => void c.update(d), digest: () => Promise.resolve(be32(c.digest())), drop: () => undefined };
    }
    default: {
      const h: Hash = createHash(algorithm);
      return { update: (d) => void h.update(d), digest: () => Promise.resolve(h.digest()), drop: () => undefined };
    }
  }
}
