import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';

/** The `x-amz-checksum-*` algorithms nubo verifies (CRC64NVME is not among them: refused, never skipped). */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** A running checksum of a body as it streams, in the base64 form the x-amz-checksum-* headers and trailers carry. */
export interface PayloadChecksum {
  update(data: Buffer): void;
  digestBase64(): string;
}

const be32 = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};

export function isChecksumAlgorithm(name: string): name is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(name);
}

/** The checksum named by a header such as `x-amz-checksum-crc32`. */
export function payloadChecksum(algorithm: ChecksumAlgorithm): PayloadChecksum {
  switch (algorithm) {
    case 'crc32': {
      let v = 0;
      return { update: (d) => { v = crc32(d, v); }, digestBase64: () => be32(v) };
    }
    case 'crc32c': {
      const c = new Crc32c();
      return { update: (d) => { c.update(d); }, digestBase64: () => be32(c.digest()) };
    }
    case 'sha1':
    case 'sha256': {
      const h: Hash = createHash(algorithm);
      return { update: (d) => { h.update(d); }, digestBase64: () => h.digest('base64') };
    }
  }
}
