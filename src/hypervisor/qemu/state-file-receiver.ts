import { createServer, type Server, type Socket } from 'node:net';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { WaitOptions } from '../../util/deadline.js';
import { writevFully } from '../../util/writev-fully.js';
import { FLUSH_BEHIND_BYTES, FlushBehind } from '../../util/flush-behind.js';
import { TimeoutError } from '../../errors/timeout-error.js';

/** For tests and failpoints. */
export interface StateFileHooks {
  /** Told after each flush to the disk — those beside the stream (`partial`), then the file's, then its directory's. */
  readonly onSync?: (what: 'partial' | 'file' | 'directory') => void;
  /** Awaited once the first bytes are in the file, QEMU still sending: a fault here is one mid-stream (its error fails the save). */
  readonly onFirstWrite?: () => Promise<void> | void;
  /** Awaited once the sender closed its end, before the file is made durable and renamed: QEMU has completed by then. */
  readonly onReceived?: () => Promise<void> | void;
  /** Bytes between the flushes beside the stream (default FLUSH_EVERY_BYTES; 0: none, one fdatasync at the end). */
  readonly flushEveryBytes?: number | undefined;
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
        const sink = new StateFileSink(fh, hooks.flushEveryBytes ?? FLUSH_EVERY_BYTES, () => hooks.onSync?.('partial'), hooks.onFirstWrite);
        try {
          await pipeline(socket, sink, { signal });
        } finally {
          // A flush still running when the stream broke is waited for: the handle closes after it.
          await sink.flushed();
        }
        await hooks.onReceived?.();
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

/** How much is written between flushes beside the stream (see FlushBehind). */
export const FLUSH_EVERY_BYTES = FLUSH_BEHIND_BYTES;

/**
 * Writes the stream into the file as QEMU sends it: the socket's reads
 * (64 KiB each) gathered into one `writev` per batch, and every
 * FLUSH_EVERY_BYTES an fdatasync started beside the writes (FlushBehind), so
 * that the disk writes the state back while QEMU still sends it.
 */
class StateFileSink extends Writable {
  written = 0;
  readonly #flush: FlushBehind;
  #onFirstWrite: (() => Promise<void> | void) | undefined;

  constructor(private readonly fh: FileHandle, flushEveryBytes: number, onFlushed: () => void, onFirstWrite: (() => Promise<void> | void) | undefined) {
    super({ highWaterMark: 8 * 1024 * 1024 });
    this.#flush = new FlushBehind(fh, flushEveryBytes > 0 ? flushEveryBytes : Infinity, onFlushed);
    this.#onFirstWrite = onFirstWrite;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#writeAll([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#writeAll(chunks.map((c) => c.chunk), cb);
  }

  /** Resolves once no flush runs; rejects with a flush's error (see FlushBehind.settled). */
  flushed(): Promise<void> {
    return this.#flush.settled();
  }

  #writeAll(bufs: Buffer[], cb: (err?: Error | null) => void): void {
    writevFully(this.fh, bufs, this.written).then((n) => {
      this.written += n;
      this.#flush.wrote(this.written);
      const first = this.#onFirstWrite;
      this.#onFirstWrite = undefined;
      if (first === undefined) return cb();
      Promise.resolve().then(first).then(() => cb(), (err: unknown) => cb(err as Error));
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
