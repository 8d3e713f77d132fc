import type { FileHandle } from 'node:fs/promises';

/**
 * `writev` of `bufs` at `position` until every byte is written (a regular
 * file takes them in one call; a short write is resumed where it stopped);
 * resolves with the count.
 * @throws the write's error, or an Error when a call writes nothing
 */
export async function writevFully(fh: FileHandle, bufs: readonly Buffer[], position: number): Promise<number> {
  let rest = bufs;
  let at = position;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev([...rest], at);
    if (bytesWritten === 0) throw new Error(`writev wrote nothing at offset ${at}`);
    at += bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        next.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    rest = next;
  }
  return at - position;
}
