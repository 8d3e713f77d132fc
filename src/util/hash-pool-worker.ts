import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashPoolReply, HashPoolRequest } from './hash-pool-messages.js';

/**
 * The body of HashPool's worker thread: many running hashes at once, each by
 * its job number; every update is acknowledged with its size so that the
 * sending side can bound what is in flight.
 */
const jobs = new Map<number, Hash>();
const post = (m: HashPoolReply): void => parentPort?.postMessage(m);
parentPort?.on('message', (m: HashPoolRequest) => {
  try {
    if (m.op === 'update') {
      let h = jobs.get(m.job);
      if (h === undefined) {
        h = createHash(m.algorithm);
        jobs.set(m.job, h);
      }
      h.update(m.data);
      post({ op: 'ack', job: m.job, bytes: m.data.byteLength });
    } else if (m.op === 'digest') {
      const h = jobs.get(m.job) ?? createHash(m.algorithm);
      jobs.delete(m.job);
      post({ op: 'digest', job: m.job, hex: h.digest('hex') });
    } else {
      jobs.delete(m.job);
    }
  } catch (err) {
    jobs.delete(m.job);
    post({ op: 'error', job: m.job, message: err instanceof Error ? err.message : String(err) });
  }
});
