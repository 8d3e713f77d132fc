import { createServer, type Server, type Socket } from 'node:net';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { WaitOptions } from '../../util/deadline.js';
import { writevFully } from '../../util/writev-fully.js';
import { TimeoutError } from '../../errors/timeout-error.js';

/** For tests: told after each flush to the disk — those beside the stream (`partial`), then the file's, then its directory's. */
export interface StateFileHooks {
  readonly onSync?: (what: 'partial' | 'file' | 'directory') => void;
}

/** A listening socket that writes the one stream it accepts into a file. */
export interface StateFileReceiver {
  /**
   * Resolves with the bytes written once the sender closed its end and the
   * file and its directory entry are on the disk (fdatasync, fsync of the
   * directory); rejects when the stream breaks, the wait times out or the
   * signal aborts — the file is then removed.
   */
  readonly done: Promise<number>;
  /** Stops listening and drops a connection in progress (idempotent); `done` then rejects unless it settled. */
  close(): void;
}

/**
 * Listens on the unix socket `socketPath` for QEMU's `migrate unix:…` and
 * writes what arrives into `filePath` (as `<filePath>.part` until it is
 * durable: `filePath` exists only whole). The agent, not a `cat` that QEMU
 * spawns, owns the writer: QEMU reports a migration `completed` before it
 * closes its channel (and signals an `exec:` child that has not exited yet),
 * so only the writer knows when the last byte is in the file, and only then
 * can the file be made durable — a host crash after `suspended` must not lose
 * the saved memory. One connection only; a second is refused.
 */
export async function listenForStateFile(socketPath: string, filePath: string, opts: WaitOptions, hooks: StateFileHooks = {}): Promise<StateFileReceiver> {
  await rm(socketPath, { force: true });
  const server = createServer();
  let conn: Socket | undefined;
  let closed = false;
  const ac = new AbortController();
  const close = (): void => {
    if (closed) return;
    closed = true;
    server.close();
    conn?.destroy();
    ac.abort(new Error('the state file receiver was closed'));
  };
  await listen(server, socketPath);
  const connected = new Promise<Socket>((resolve) => {
    server.on('connection', (s) => {
      if (conn !== undefined || closed) {
        s.destroy();
        return;
      }
      conn = s;
      // Nothing else may connect once the sender has.
      server.close();
      resolve(s);
    });
  });
  const part = `${filePath}.part`;
  const stops = [ac.signal, AbortSignal.timeout(opts.timeoutMs ?? 300_000), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(stops);
  const done = (async (): Promise<number> => {
    try {
      const socket = await Promise.race([connected, aborted(signal)]);
      // Written under a temporary name and renamed once durable: a host that loses power mid-save must not come back
      // with a partial file under the name that makes the VM `suspended` (the flushes beside the stream put parts of it
      // on the disk early).
      const fh = await open(part, 'w', 0o600);
      let size: number;
      try {
        const sink = new StateFileSink(fh, () => hooks.onSync?.('partial'));
        try {
          await pipeline(socket, sink, { signal });
        } finally {
          // A flush still running when the stream broke is waited for: the handle closes after it.
          await sink.flushed();
        }
        // What the flushes beside the stream left: the tail, and the size.
        await fh.datasync();
        size = sink.written;
      } finally {
        await fh.close();
      }
      hooks.onSync?.('file');
      await rename(part, filePath);
      await syncFile(dirname(filePath));
      hooks.onSync?.('directory');
      return size;
    } catch (err) {
      await rm(part, { force: true });
      await rm(filePath, { force: true });
      if (!signal.aborted) throw err;
      const why: unknown = signal.reason;
      throw why instanceof DOMException && why.name === 'TimeoutError' ? new TimeoutError('receiving the saved VM state', opts.timeoutMs ?? 300_000) : why;
    } finally {
      close();
      await rm(socketPath, { force: true });
    }
  })();
  // Settled by whoever awaits `done`; this only keeps an early failure from being an unhandled rejection.
  done.catch(() => {});
  return { done, close };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    // The reason itself, whatever it is: the caller maps it (a timeout's DOMException, the abort's own reason).
    const fail = (): void => reject(signal.reason as Error);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/** How much is written between flushes beside the stream: the disk writes one batch while the next arrives. */
export const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;

/**
 * Writes the stream into the file as QEMU sends it: the socket's reads
 * (64 KiB each) gathered into one `writev` per batch, and every
 * FLUSH_EVERY_BYTES an fdatasync started beside the writes, so that the
 * disk writes the state back while QEMU still sends it — the fdatasync
 * that makes the file durable at the end then has only the tail left,
 * where one at the end alone would wait for the whole file at the disk's
 * speed after the stream is done. At most one flush runs at a time.
 */
class StateFileSink extends Writable {
  written = 0;
  #flushedAt = 0;
  #flushing: Promise<void> | undefined;
  #failed: Error | undefined;

  constructor(private readonly fh: FileHandle, private readonly onFlushed: () => void) {
    super({ highWaterMark: 8 * 1024 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#writeAll([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#writeAll(chunks.map((c) => c.chunk), cb);
  }

  /**
   * Resolves once no flush runs. Rejects with a flush's error: the kernel
   * reports a failed write-back once per open file, so the final fdatasync on
   * the same handle would not see it again.
   */
  async flushed(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#failed) throw this.#failed;
  }

  #writeAll(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    writevFully(this.fh, bufs, this.written).then((n) => {
      this.written += n;
      if (this.#flushing === undefined && this.written - this.#flushedAt >= FLUSH_EVERY_BYTES) {
        this.#flushedAt = this.written;
        this.#flushing = this.fh.datasync().then(() => this.onFlushed(), (err: unknown) => void (this.#failed ??= err as Error)).finally(() => (this.#flushing = undefined));
      }
      cb();
    }, (err: unknown) => cb(err as Error));
  }
}

/** Flushes a file (its data and size) or a directory (a new name in it: only durable once the directory is) to the disk; returns its size. */
async function syncFile(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    await fh.datasync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}
