import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { HashJob } from './hash-job.js';

/**
 * The body of hashFile's worker thread: waits for one job (hashFile posts it;
 * a worker started ahead of its job — prewarmHashWorker — waits idle until
 * then), computes the sha256 of one file with blocking reads (this thread has
 * nothing else to do), posts it back as `{ sha256, bytes }`. An error is
 * thrown and reaches the parent as its 'error' event. One job a thread: the
 * parent terminates it after.
 */
parentPort?.once('message', (job: HashJob) => {
  const digest = hashJob(job);
  parentPort?.postMessage(digest);
});

/** Page size of a trail's progress (hash-file.ts TRAIL_PAGE; not imported: hash-file.ts starts workers, this file is one). */
const TRAIL_PAGE = 4096;

function hashJob({ path, fd: given, chunkBytes, trail, pace }: HashJob): { sha256: string; bytes: number } {
  // From the job's arrival, not the thread's start: a thread started ahead waited idle until now.
  const started = performance.now();
  /** Waited on for a paced read's time (nothing wakes it: Atomics.wait is this thread's sleep). */
  const nap = new Int32Array(new SharedArrayBuffer(4));
  /** How many bytes from `at` may be read now: as far as the copy this hash trails has got or the pace allows, waiting for either to allow more. */
  const readable = (at: number, want: number): number => {
    if (trail === undefined && pace === undefined) return want;
    for (;;) {
      if (trail !== undefined && Atomics.load(trail, 1) === 1) return want;
      const pages = trail === undefined ? 0 : Atomics.load(trail, 0);
      const paced = pace === undefined ? 0 : Math.floor(pace.burstBytes + (pace.bytesPerSecond * (performance.now() - started)) / 1000);
      const limit = Math.max(pages * TRAIL_PAGE, paced);
      if (limit > at) return Math.min(want, limit - at);
      // The copy's next step wakes a trail's wait; the timeouts only re-check (the parent terminates a worker it gave up on).
      const napMs = pace === undefined ? 1_000 : Math.min(1_000, Math.max(1, Math.ceil(((at + 1 - paced) / pace.bytesPerSecond) * 1000)));
      if (trail !== undefined) Atomics.wait(trail, 0, pages, napMs);
      else Atomics.wait(nap, 0, 0, napMs);
    }
  };
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(chunkBytes);
  // A descriptor of the parent's (threads share them) is read, not closed: it is the parent's to close.
  const fd = given ?? openSync(path, 'r');
  let bytes = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, readable(bytes, buf.length), bytes);
      if (n === 0) break;
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    if (given === undefined) closeSync(fd);
  }
  return { sha256: hash.digest('hex'), bytes };
}
