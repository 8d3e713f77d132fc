import { readFile, stat, writeFile } from 'node:fs/promises';
import type { WaitOptions } from '../util/deadline.js';
import { createOverlay } from './qemu-img.js';

/** Larger than any blank overlay (a 64 TiB base's L1 table is 1 MiB): a file this big is not kept. */
const MAX_BLANK_BYTES = 4 * 1024 * 1024;

/**
 * Copy-on-write overlays written from a blank one kept in memory. An overlay
 * nothing has written to is the same bytes for every VM of one base image:
 * qcow2's header holds the backing file's path and format and the size, and
 * no id or time. So the first overlay of a base is made by `qemu-img create`
 * and read back, and the next ones are written from memory: a provision
 * then spawns no process for its disk (10 at once: ~70 ms of qemu-img
 * processes on 2 cores, against ~2 ms of writes).
 *
 * A blank is keyed by the base's path, format and identity (device, inode,
 * size, change times): a base replaced under the same path gets a new one.
 */
export class OverlayBlanks {
  readonly #blanks = new Map<string, Buffer>();

  /** `max`: how many bases' blanks are kept (the oldest made goes first). */
  constructor(private readonly max = 32) {}

  /** How many blanks are held (tests). */
  get size(): number {
    return this.#blanks.size;
  }

  /** Makes `path` a fresh overlay of `base`, as `createOverlay` does (an existing file is overwritten). */
  async create(base: string, baseFormat: 'qcow2' | 'raw', path: string, opts: WaitOptions = {}): Promise<void> {
    const s = await stat(base, { bigint: true });
    const key = JSON.stringify([base, baseFormat, String(s.dev), String(s.ino), String(s.size), String(s.mtimeNs), String(s.ctimeNs)]);
    const blank = this.#blanks.get(key);
    if (blank !== undefined) {
      await writeFile(path, blank, { mode: 0o644, ...(opts.signal ? { signal: opts.signal } : {}) });
      return;
    }
    await createOverlay(base, baseFormat, path, opts);
    // Read back before anyone has the path: the caller opens it only once this returns.
    const made = await readFile(path);
    if (made.length > MAX_BLANK_BYTES) return;
    this.#blanks.set(key, made);
    for (const oldest of this.#blanks.keys()) {
      if (this.#blanks.size <= this.max) break;
      this.#blanks.delete(oldest);
    }
  }
}
