import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The body of hashFile's worker thread: the sha256 of one file, read with
 * blocking reads (this thread has nothing else to do), posted back as
 * `{ sha256, bytes }`. An error is thrown and reaches the parent as its
 * 'error' event.
 */
const { path, fd: given, chunkBytes } = workerData as { path: string; fd: number | undefined; chunkBytes: number };
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(chunkBytes);
// A descriptor of the parent's (threads share them) is read, not closed: it is the parent's to close.
const fd = given ?? openSync(path, 'r');
let bytes = 0;
try {
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, bytes);
    if (n === 0) break;
    hash.update(n === buf.length ? buf : buf.subarray(0, n));
    bytes += n;
  }
} finally {
  if (given === undefined) closeSync(fd);
}
parentPort?.postMessage({ sha256: hash.digest('hex'), bytes });
