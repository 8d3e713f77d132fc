import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The body of hashFile's worker thread: the sha256 of one file, read with
 * blocking reads (this thread has nothing else to do), posted back as
 * `{ sha256, bytes }`. An error is thrown and reaches the parent as its
 * 'error' event.
 */
const { path, fd: given, chunkBytes, trail, pace } = workerData as {
  path: string; fd: number | undefined; chunkBytes: number; trail: Int32Array | undefined;
  pace: { bytesPerSecond: number; burstBytes: number } | undefined;
};
const started = performance.now();
/** Waited on for a paced read's time (nothing wakes it: Atomics.wait is this thread's sleep). */
const nap = new Int32Array(new SharedArrayBuffer(4));
/** Page size of a trail's progress (hash-file.ts TRAIL_PAGE; not imported: this file is the worker's whole module). */
const TRAIL_PAGE = 4096;

/** How many bytes from `at` may be read now: as far as the copy this hash trails has got or the pace allows, waiting for either to allow more. */
function readable(at: number, want: number): number {
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
