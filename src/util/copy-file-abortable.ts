import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/**
 * Copies `src` to a new file `dest` (which must not exist) as a stream, so an
 * abort stops it (fs.copyFile cannot be interrupted). The source is opened
 * first: a source that cannot be read rejects with its errno error before
 * `dest` is created. A `dest` left by a failed copy is the caller's to remove.
 */
export async function copyFileAbortable(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  const source = createReadStream(src);
  await once(source, 'open');
  await pipeline(source, createWriteStream(dest, { flags: 'wx' }), { signal: signal ?? new AbortController().signal });
}
