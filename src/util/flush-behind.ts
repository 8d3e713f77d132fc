import type { FileHandle } from 'node:fs/promises';

/** How much is written between flushes beside a stream: the disk writes one batch back while the next arrives. */
export const FLUSH_BEHIND_BYTES = 32 * 1024 * 1024;

/**
 * fdatasyncs started beside a file's writes, so that the disk writes the file
 * back while the stream still fills it: the flush that makes the file
 * durable at the end then has only the tail left, where one at the end alone
 * waits for the whole file at the disk's speed after the stream is done.
 * (Node has no sync_file_range; an fdatasync of the whole file costs the same
 * when the part before the last flush is clean already.) At most one flush
 * runs at a time; a writer tells it how far it has written after each write.
 */
export class FlushBehind {
  #flushedAt = 0;
  #flushing: Promise<void> | undefined;
  #failed: Error | undefined;
  #finishing: Promise<void> | undefined;

  /** `onFlushed`: told after each flush beside the stream (tests). */
  constructor(private readonly fh: FileHandle, private readonly everyBytes = FLUSH_BEHIND_BYTES, private readonly onFlushed?: () => void) {}

  /** The file holds `written` bytes from the start: a flush starts if none runs and `everyBytes` were written since the last. */
  wrote(written: number): void {
    if (this.#flushing !== undefined || written - this.#flushedAt < this.everyBytes) return;
    this.#flushedAt = written;
    this.#flushing = this.fh.datasync()
      .then(() => this.onFlushed?.(), (err: unknown) => void (this.#failed ??= err as Error))
      .finally(() => (this.#flushing = undefined));
  }

  /**
   * The file is complete: its final fdatasync starts now (once a flush that runs ended), beside whatever the
   * writer still waits for (a copy's hash), rather than when the writer gets to its own fsync, which then finds
   * the file clean. settled() waits for it. Idempotent.
   */
  finish(): void {
    this.#finishing ??= (async () => {
      while (this.#flushing) await this.#flushing;
      await this.fh.datasync();
    })().then(() => this.onFlushed?.(), (err: unknown) => void (this.#failed ??= err as Error));
  }

  /**
   * Resolves once no flush runs (the handle may then be closed). Rejects with
   * a flush's error: the kernel reports a failed write-back once per open
   * file, so the final fdatasync on the same handle would not see it again.
   */
  async settled(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    await this.#finishing;
    if (this.#failed) throw this.#failed;
  }
}
