import { open } from 'node:fs/promises';

const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Reads a file front to back into nothing, so that its pages are in the
 * page cache by the time another process reads them: a restoring QEMU
 * parses its saved state single-threaded, reading as it goes, and spends its
 * first few hundred milliseconds starting up — time in which the disk can
 * deliver most of the file ahead of it. Best effort: stops at the signal and
 * never rejects; resolves with the bytes read.
 */
export async function warmPageCache(path: string, signal: AbortSignal): Promise<number> {
  let read = 0;
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return 0;
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    while (!signal.aborted) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
  } catch {
    // A read error here is QEMU's to meet and report.
  } finally {
    await fh.close().catch(() => {});
  }
  return read;
}
