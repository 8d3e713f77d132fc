import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { NuboError, errorMessage } from '../errors/nubo-error.js';
import { imageInfo } from '../storage/qemu-img.js';
import { deadline } from '../util/deadline.js';
import type { ImageRef } from '../contract/agent-api.js';

export class ImageFetchError extends NuboError {
  readonly code = 'IMAGE_FETCH_FAILED';
  constructor(readonly imageId: string, reason: string, options?: ErrorOptions) {
    super(`cannot fetch image ${imageId}: ${reason}`, { imageId, reason }, options);
  }
}

/**
 * A host's cache of base images. Each image is fetched from the controller's
 * image store once, checked against its sha256 and size while it streams, and
 * installed by rename — so a file in the cache is always complete and
 * verified. Concurrent requests for the same image share one download.
 */
/** One download shared by every caller that wants the image while it runs. */
interface Download {
  readonly url: string;
  readonly done: Promise<string>;
  readonly abort: AbortController;
  waiters: number;
  settled: boolean;
}

export class ImageCache {
  readonly #inflight = new Map<string, Download>();
  #downloads = 0;

  constructor(readonly dir: string, readonly token: string) {}

  pathOf(ref: Pick<ImageRef, 'id' | 'format'>): string {
    return join(this.dir, `${ref.id}.${ref.format}`);
  }

  /**
   * The cached file's path, fetching it first if needed. The download belongs
   * to no single caller: one who gives up (its signal) stops waiting, and the
   * download stops only when nobody waits any more. A caller that joined a
   * download from another URL which then failed (the controller that started
   * it died, and its successor asks with its own URL) tries once with its own.
   */
  async ensure(ref: ImageRef, signal?: AbortSignal): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const path = this.pathOf(ref);
      if ((await readFile(`${path}.sha256`, 'utf8').catch(() => '')) === ref.sha256) return path;
      let dl = this.#inflight.get(ref.id);
      if (!dl) {
        const abort = new AbortController();
        const started: Download = { url: ref.url, abort, waiters: 0, settled: false, done: this.#fetch(ref, path, abort.signal) };
        void started.done.finally(() => {
          started.settled = true;
          if (this.#inflight.get(ref.id) === started) this.#inflight.delete(ref.id);
        }).catch(() => {});
        this.#inflight.set(ref.id, started);
        dl = started;
      }
      dl.waiters++;
      try {
        return await waitFor(dl.done, ref.id, signal);
      } catch (err) {
        if (signal?.aborted === true || dl.url === ref.url || attempt > 1) throw err;
      } finally {
        dl.waiters--;
        if (dl.waiters === 0 && !dl.settled) dl.abort.abort(new ImageFetchError(ref.id, 'nobody waits for it any more'));
      }
    }
  }

  async #fetch(ref: ImageRef, path: string, signal: AbortSignal): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    // One part file per download: a download that was given up may still be removing its own while the next starts.
    const tmp = `${path}.part-${process.pid}-${++this.#downloads}`;
    // Big images over a slow link take a while; the deadline scales with size (at least 10 MB/s).
    const d = deadline(`fetch of image ${ref.id}`, 60_000 + Math.ceil(ref.sizeBytes / 10_000), signal);
    try {
      const res = await fetch(ref.url, { headers: { authorization: `Bearer ${this.token}` }, signal: d.signal });
      if (!res.ok || !res.body) throw new ImageFetchError(ref.id, `GET ${ref.url} answered HTTP ${res.status}`);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(tmp), { signal: d.signal });
      const digest = hash.digest('hex');
      if (size !== ref.sizeBytes) throw new ImageFetchError(ref.id, `got ${size} bytes, expected ${ref.sizeBytes}`);
      if (digest !== ref.sha256) throw new ImageFetchError(ref.id, `sha256 mismatch: got ${digest}, expected ${ref.sha256}`);
      if (ref.format === 'qcow2' || ref.format === 'raw') {
        const info = await imageInfo(tmp, { signal: d.signal });
        if (info.format !== ref.format) throw new ImageFetchError(ref.id, `file is ${info.format}, expected ${ref.format}`);
        // A cached base must stand alone: a backing file would point outside the cache.
        if (info.backingFile !== undefined) throw new ImageFetchError(ref.id, `image has a backing file (${info.backingFile})`);
      }
      await rename(tmp, path);
      await writeFile(`${path}.sha256`, ref.sha256);
      return path;
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ImageFetchError) throw err;
      throw new ImageFetchError(ref.id, errorMessage(err), { cause: err });
    } finally {
      d.dispose();
    }
  }

  /** Bytes the cache holds (for the host's disk usage). */
  async sizeOf(ref: Pick<ImageRef, 'id' | 'format'>): Promise<number> {
    return (await stat(this.pathOf(ref)).catch(() => ({ size: 0 }))).size;
  }
}

/** `done`, unless `signal` fires first. */
function waitFor(done: Promise<string>, imageId: string, signal: AbortSignal | undefined): Promise<string> {
  if (!signal) return done;
  if (signal.aborted) return Promise.reject(new ImageFetchError(imageId, 'the caller gave up waiting', { cause: signal.reason }));
  return new Promise<string>((resolve, reject) => {
    const onAbort = (): void => reject(new ImageFetchError(imageId, 'the caller gave up waiting', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
