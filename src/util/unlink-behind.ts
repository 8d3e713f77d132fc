import { open, rm } from 'node:fs/promises';

/**
 * Removes a file's name now and leaves the freeing of its blocks to later:
 * unlinking the last name of a large file frees its extents and drops its
 * pages from the page cache inside the unlink itself — 35–45 ms for a
 * 170 MiB saved state, a quarter of a resume (bench/suspend). With a handle
 * still open the unlink only drops the name; the kernel frees the file when
 * that handle closes, which happens here off the caller's path. Once this
 * resolves the path is gone for every reader (a crash meanwhile only frees
 * the file sooner). Like `rm(path, { force: true })`: a missing file is fine.
 */
export async function unlinkBehind(path: string): Promise<void> {
  const fh = await open(path, 'r').catch(() => undefined);
  try {
    await rm(path, { force: true });
  } finally {
    void fh?.close().catch(() => {});
  }
}
