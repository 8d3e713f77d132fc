import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The body of hashFile's worker thread: the sha256 of one file, read with
 * blocking reads (this thread has nothing else to do), posted back as
 * `{ sha256, bytes }`. An error is thrown and reaches the parent as its
 * 'error' event.
 */
const { path, fd: given, chunkBytes, trail } = workerData as { path: string; fd: number | undefined; chunkBytes: number; trail: Int32Array | undefined };
/** Page size of a trail's progress (hash-file.ts TRAIL_PAGE; not imported: this file is the worker's whole module). */
const TRAIL_PAGE = 4096;

/** How many bytes from `at` may be read now: as far as the copy this hash trails has got, waiting for it to get further. */
function readable(at: number, want: number): number {
  if (trail === undefined) return want;
  for (;;) {
    if (Atomics.load(trail, 1) === 1) return want;
    const pages = Atomics.load(trail, 0);
    const limit = pages * TRAIL_PAGE;
    if (limit > at) return Math.min(want, limit - at);
    // Woken by the copy's next step; the timeout only re-checks (the parent terminates a worker it gave up on).
    Atomics.wait(trail, 0, pages, 1_000);
  }
}
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
parentPort?.postMessage({ sha256: hash.digest('hex'), bytes });
