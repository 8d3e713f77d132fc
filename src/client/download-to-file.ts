import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, constants, link, lstat, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { errorMessage } from '../errors/nubo-error.js';
import { LocalFileError } from '../errors/local-file-error.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { deadline } from '../util/deadline.js';
import { RemoteError, UnreachableError } from './remote-error.js';

export interface DownloadRequest {
  readonly url: string;
  readonly token: string;
  /** The file to write; it appears whole or not at all. */
  readonly dest: string;
  readonly signal?: AbortSignal | undefined;
  /** For the whole transfer. */
  readonly timeoutMs?: number | undefined;
  /** Called as bytes arrive, with the size when the server gave a Content-Length. */
  readonly onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  /** False: a `dest` that exists is refused (LocalFileError), before the request and again when the file would appear. Default true. */
  readonly overwrite?: boolean | undefined;
}

/**
 * GETs a binary answer of a nubo server into a file: written to a temporary
 * file beside `dest` and renamed when complete, removed on any failure.
 * Error answers come back as RemoteError, as with jsonRequest.
 */
export async function downloadToFile(r: DownloadRequest): Promise<{ bytes: number }> {
  // Checked before asking: an export makes the server copy a disk, for nothing if the file cannot be written.
  await writableDirOf(r.dest);
  const overwrite = r.overwrite ?? true;
  if (!overwrite && (await lstat(r.dest).catch(() => undefined)) !== undefined) throw new LocalFileError(r.dest, 'already exists (not overwritten)');
  const d = deadline(`GET ${r.url}`, r.timeoutMs ?? 30 * 60_000, r.signal);
  const tmp = join(dirname(r.dest), `.${basename(r.dest)}.${randomBytes(4).toString('hex')}.part`);
  try {
    let res: Response;
    try {
      res = await fetch(r.url, { headers: { authorization: `Bearer ${r.token}` }, signal: d.signal });
    } catch (err) {
      if (d.signal.aborted && d.signal.reason instanceof TimeoutError) throw new UnreachableError(r.url, d.signal.reason.message, { cause: err });
      if (r.signal?.aborted) throw err;
      throw new UnreachableError(r.url, errorMessage((err as { cause?: unknown }).cause ?? err), { cause: err });
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // Not one of ours: keep the status.
      }
      throw new RemoteError(res.status, body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? `GET ${r.url}: HTTP ${res.status}`, body.error?.details ?? {});
    }
    let bytes = 0;
    const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    const total = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    body.on('data', (c: Buffer) => {
      bytes += c.length;
      r.onProgress?.(bytes, total);
    });
    try {
      await pipeline(body, createWriteStream(tmp, { flags: 'wx' }), { signal: d.signal });
      if (overwrite) await rename(tmp, r.dest);
      else {
        // A link fails where rename would replace: a file that appeared during the download is kept, not overwritten.
        await link(tmp, r.dest);
        await rm(tmp, { force: true });
      }
    } catch (err) {
      // The temporary name is ours, not the user's: name the file they asked for.
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EEXIST' && !overwrite) throw new LocalFileError(r.dest, 'already exists (not overwritten)', { cause: err });
      if (typeof e.syscall === 'string' && typeof e.code === 'string') throw new LocalFileError(r.dest, `cannot write (${e.code})`, { cause: err });
      throw err;
    }
    return { bytes };
  } catch (err) {
    await rm(tmp, { force: true });
    if (d.signal.aborted && d.signal.reason instanceof TimeoutError && !(err instanceof RemoteError)) throw d.signal.reason;
    throw err;
  } finally {
    d.dispose();
  }
}

async function writableDirOf(dest: string): Promise<void> {
  const dir = dirname(dest);
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new LocalFileError(dest, `directory ${dir} does not exist`);
  if (!st.isDirectory()) throw new LocalFileError(dest, `${dir} is not a directory`);
  if ((await stat(dest).catch(() => undefined))?.isDirectory()) throw new LocalFileError(dest, 'is a directory');
  await access(dir, constants.W_OK).catch(() => {
    throw new LocalFileError(dest, `directory ${dir} is not writable`);
  });
}
