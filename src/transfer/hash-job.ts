/** What hashFile posts to its worker thread (hash-file-worker.ts): one file's hash. */
export interface HashJob {
  readonly path: string;
  /** The parent's open descriptor to read from offset 0 (threads share them), or undefined: the worker opens `path`. */
  readonly fd: number | undefined;
  readonly chunkBytes: number;
  /** A HashTrail's shared progress: read no further than it says, until it ends. */
  readonly trail: Int32Array | undefined;
  /** Read no faster than this, `burstBytes` at once, from the job's arrival. */
  readonly pace: { readonly bytesPerSecond: number; readonly burstBytes: number } | undefined;
}
