import { open, stat } from 'node:fs/promises';
import { writeFileAtomically } from './write-file-atomically.js';

/** Bytes to drop at the head of `buf` so that it starts on a UTF-8 character (a tail cut in the middle of one). */
export function utf8StartOffset(buf: Uint8Array): number {
  let i = 0;
  // At most three continuation bytes (10xxxxxx) follow a character's first byte.
  while (i < 3 && i < buf.length && (buf[i]! & 0xc0) === 0x80) i++;
  return i;
}

/** The last `maxBytes` of `buf`, from a whole UTF-8 character on; `buf` itself when it is no longer. */
export function utf8Tail(buf: Buffer, maxBytes: number): Buffer {
  if (buf.length <= maxBytes) return buf;
  const tail = buf.subarray(buf.length - maxBytes);
  return tail.subarray(utf8StartOffset(tail));
}

/**
 * The last `maxBytes` of `paths` read as one file, in order (a file that does not exist counts as empty), starting on
 * a whole UTF-8 character. Reads only the tail of each file, never a whole large one.
 */
export async function readFilesTail(paths: readonly string[], maxBytes: number, signal?: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  let left = maxBytes;
  for (let i = paths.length - 1; i >= 0 && left > 0; i--) {
    signal?.throwIfAborted();
    const part = await readTail(paths[i]!, left);
    parts.unshift(part);
    left -= part.length;
  }
  const all = Buffer.concat(parts);
  // Cut only when the tail was: a log shorter than maxBytes is whole, and its first byte is the first character's.
  const cut = left <= 0 ? utf8StartOffset(all) : 0;
  return all.subarray(cut).toString('utf8');
}

async function readTail(path: string, maxBytes: number): Promise<Buffer> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  if (fh === undefined) return Buffer.alloc(0);
  try {
    const size = (await fh.stat()).size;
    const n = Math.min(size, maxBytes);
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fh.read(buf, got, n - got, size - n + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/**
 * Keeps the last `maxBytes` of the file at `path` when it is larger (from a whole UTF-8 character on), replacing it at
 * once (a rename): a crash leaves the old file or the trimmed one. Only for a file no process is writing to. The new
 * file has `mode`. True when it was trimmed.
 */
export async function keepFileTail(path: string, maxBytes: number, mode = 0o600): Promise<boolean> {
  const size = await stat(path).then((s) => s.size, (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  });
  if (size <= maxBytes) return false;
  const tail = await readTail(path, maxBytes);
  await writeFileAtomically(path, tail.subarray(utf8StartOffset(tail)), mode);
  return true;
}
