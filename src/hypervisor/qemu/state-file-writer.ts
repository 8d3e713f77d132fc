import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { abortReason, deadline, type WaitOptions } from '../../util/deadline.js';
import { FLUSH_BEHIND_BYTES, FlushBehind } from '../../util/flush-behind.js';
import { ValidationError } from '../../errors/validation-error.js';

/**
 * The files of one save attempt, beside the state file: `part`, what the
 * writer fills (renamed to the state file once whole and durable), and `rc`,
 * the writer's exit status, written once it has ended. Named after the
 * attempt's token, so that a writer of an earlier attempt still finishing
 * never reports for a later one.
 */
export interface SaveAttemptFiles {
  readonly part: string;
  readonly rc: string;
}

export function saveAttemptFiles(statePath: string, token: string): SaveAttemptFiles {
  if (!/^[0-9a-f]{8,64}$/.test(token)) throw new ValidationError('save attempt', [{ field: 'token', message: 'must be 8–64 hex digits' }]);
  return { part: `${statePath}.${token}.part`, rc: `${statePath}.${token}.rc` };
}

/** Shell single quotes: the path as one word whatever it holds. */
function sq(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * The `exec:` URI that makes QEMU stream a save into `files.part` through a
 * C writer (`dd`, fdatasync before it exits) — where the agent's own reader of
 * a unix socket took the stream at a third of QEMU's speed (bench/save-sinks).
 *
 * QEMU 7.2 SIGTERMs, then SIGKILLs, the shell it spawned for `exec:` as soon as
 * the stream is over, whether or not it has written everything: so the writer
 * runs detached — the shell hands QEMU's pipe to a background job as fd 3
 * (a background job's own stdin is /dev/null) and exits at once — and reports
 * its end through `files.rc` (its exit status, renamed into place: never read
 * half-written). It outlives the agent too: a save whose agent died goes on to
 * its end, and the retry finds it done (qemu-power.ts).
 */
export function stateWriterUri(files: SaveAttemptFiles): string {
  const tmp = `${files.rc}.tmp`;
  return `exec:exec 3<&0 </dev/null; (dd of=${sq(files.part)} bs=4M conv=fdatasync,notrunc status=none <&3 3<&-; echo $? > ${sq(tmp)} && mv ${sq(tmp)} ${sq(files.rc)}) >/dev/null 2>&1 &`;
}

/**
 * Resolves with the writer's exit status once its rc file is there. Told by
 * inotify on the directory (fs.watch), with a look every 100 ms besides (a
 * datastore whose file system does not report changes); rejects at the
 * deadline or the signal.
 */
export async function waitWriterExit(rc: string, opts: WaitOptions): Promise<number> {
  const d = deadline(`the end of the state file writer (${basename(rc)})`, opts.timeoutMs ?? 300_000, opts.signal);
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<number>((resolve, reject) => {
      let reading = false;
      let again = false;
      const look = (): void => {
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        readFile(rc, 'utf8').then((text) => {
          const n = Number(text.trim());
          if (text.trim() !== '' && Number.isInteger(n)) resolve(n);
        }, (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') reject(err);
        }).finally(() => {
          reading = false;
          if (again) {
            again = false;
            look();
          }
        });
      };
      d.signal.addEventListener('abort', () => reject(abortReason(d.signal, 'waiting for the state file writer')), { once: true });
      try {
        watcher = watch(dirname(rc), (_event, name) => {
          if (name === null || name === basename(rc)) look();
        });
        watcher.on('error', () => {});
      } catch {
        // No inotify here: the periodic look alone.
      }
      timer = setInterval(look, 100);
      look();
    });
  } finally {
    watcher?.close();
    clearInterval(timer);
    d.dispose();
  }
}

/**
 * Flushes a file another process fills (the writer) to the disk while it
 * fills, as FlushBehind does for the agent's own writes: its size is read
 * every `intervalMs`, and an fdatasync of this handle — the same inode, so
 * the writer's pages — starts whenever FLUSH_BEHIND_BYTES were added since
 * the last. `onFirstBytes` is awaited once the file holds anything.
 */
export class WatchedFlushBehind {
  readonly #flush: FlushBehind;
  readonly #timer: NodeJS.Timeout;
  #first: (() => Promise<void> | void) | undefined;
  #firstFailed: ((err: Error) => void) | undefined;
  #looking = false;
  size = 0;

  constructor(private readonly fh: FileHandle, o: { readonly everyBytes?: number; readonly intervalMs?: number; readonly onFlushed?: () => void; readonly onFirstBytes?: () => Promise<void> | void; readonly onFirstBytesFailed?: (err: Error) => void } = {}) {
    this.#flush = new FlushBehind(fh, o.everyBytes ?? FLUSH_BEHIND_BYTES, o.onFlushed);
    this.#first = o.onFirstBytes;
    this.#firstFailed = o.onFirstBytesFailed;
    this.#timer = setInterval(() => this.#look(), o.intervalMs ?? 5);
  }

  #look(): void {
    if (this.#looking) return;
    this.#looking = true;
    this.fh.stat().then((st) => {
      this.size = st.size;
      this.#flush.wrote(st.size);
      this.#tellFirst(st.size)?.catch((err: unknown) => this.#firstFailed?.(err as Error));
    }, () => {}).finally(() => (this.#looking = false));
  }

  /**
   * Looks once more now and, if the first bytes were never told (a stream
   * that ended between two looks), tells them and awaits the hook: its fault
   * then still comes before whatever follows the stream's end.
   */
  async lookNow(): Promise<void> {
    const st = await this.fh.stat();
    this.size = Math.max(this.size, st.size);
    await this.#tellFirst(st.size);
  }

  /** The first-bytes hook, once, when the file has any (its promise; undefined when there is nothing to tell). */
  #tellFirst(size: number): Promise<void> | undefined {
    const first = this.#first;
    if (size === 0 || first === undefined) return undefined;
    this.#first = undefined;
    return Promise.resolve().then(first);
  }

  /** Stops looking; resolves once no flush runs, rejects with a flush's error (FlushBehind.settled). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flush.settled();
  }
}

/** Makes `part` the state file: data on the disk (fdatasync), renamed, the directory entry on the disk (fsync). */
export async function commitStateFile(part: string, statePath: string): Promise<number> {
  const fh = await open(part, 'r+');
  let size: number;
  try {
    await fh.datasync();
    size = (await fh.stat()).size;
  } finally {
    await fh.close();
  }
  await rename(part, statePath);
  const dir = await open(dirname(statePath), 'r');
  try {
    await dir.datasync();
  } finally {
    await dir.close();
  }
  return size;
}

/** Removes what save attempts left beside `statePath` (parts, rc files), all of them or all but `keep`'s. */
export async function removeAttemptFiles(statePath: string, keep?: SaveAttemptFiles): Promise<void> {
  const dir = dirname(statePath);
  const base = basename(statePath);
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[0-9a-f]{8,64}\\.(part|rc|rc\\.tmp)$`);
  const names = await readdir(dir).catch(() => [] as string[]);
  const kept = new Set(keep === undefined ? [] : [basename(keep.part), basename(keep.rc), `${basename(keep.rc)}.tmp`]);
  await Promise.all(names.filter((n) => re.test(n) && !kept.has(n)).map((n) => rm(join(dir, n), { force: true })));
}
