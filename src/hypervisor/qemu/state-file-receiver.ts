import { createServer, type Server, type Socket } from 'node:net';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { WaitOptions } from '../../util/deadline.js';
import { TimeoutError } from '../../errors/timeout-error.js';

/** For tests: told after each flush to the disk, the file's then its directory's. */
export interface StateFileHooks {
  readonly onSync?: (what: 'file' | 'directory') => void;
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
 * writes what arrives into `filePath`. The agent, not a `cat` that QEMU
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
  const stops = [ac.signal, AbortSignal.timeout(opts.timeoutMs ?? 300_000), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(stops);
  const done = (async (): Promise<number> => {
    try {
      const socket = await Promise.race([connected, aborted(signal)]);
      await pipeline(socket, createWriteStream(filePath, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
      // fdatasync flushes the file's pages whichever descriptor wrote them.
      const size = await syncFile(filePath);
      hooks.onSync?.('file');
      await syncFile(dirname(filePath));
      hooks.onSync?.('directory');
      return size;
    } catch (err) {
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
