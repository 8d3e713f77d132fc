import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import type { HashPoolReply, HashPoolRequest, PoolAlgorithm } from './hash-pool-messages.js';

interface Running {
  update(data: Uint8Array): void;
  /** Hex: a hash's digest, a CRC's 4 bytes big-endian. */
  digest(): string;
}

const crcHex = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

function running(algorithm: PoolAlgorithm): Running {
  switch (algorithm) {
    case 'crc32': {
      let v = 0;
      return { update: (d) => { v = crc32(d, v); }, digest: () => crcHex(v) };
    }
    case 'crc32c': {
      const c = new Crc32c();
      return { update: (d) => { c.update(d); }, digest: () => crcHex(c.digest()) };
    }
    default: {
      const h = createHash(algorithm);
      return { update: (d) => { h.update(d); }, digest: () => h.digest('hex') };
    }
  }
}

/**
 * The body of HashPool's worker thread: many running digests at once, each by
 * its job number; every update is acknowledged with its size so that the
 * sending side can bound what is in flight.
 */
const jobs = new Map<number, Running>();
const post = (m: HashPoolReply): void => parentPort?.postMessage(m);
parentPort?.on('message', (m: HashPoolRequest) => {
  try {
    if (m.op === 'update') {
      let h = jobs.get(m.job);
      if (h === undefined) {
        h = running(m.algorithm);
        jobs.set(m.job, h);
      }
      h.update(m.data);
      post({ op: 'ack', job: m.job, bytes: m.data.byteLength });
    } else if (m.op === 'digest') {
      const h = jobs.get(m.job) ?? running(m.algorithm);
      jobs.delete(m.job);
      post({ op: 'digest', job: m.job, hex: h.digest() });
    } else {
      jobs.delete(m.job);
    }
  } catch (err) {
    jobs.delete(m.job);
    post({ op: 'error', job: m.job, message: err instanceof Error ? err.message : String(err) });
  }
});
