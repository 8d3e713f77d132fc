import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { WaitOptions } from '../util/deadline.js';
import { runCommand } from '../util/run-command.js';
import type { DiskImageFormat } from './inspect-disk-image.js';

export type ConvertTarget = { readonly format: 'qcow2' } | { readonly format: 'vmdk'; readonly subformat: 'streamOptimized' | 'monolithicSparse' };

/**
 * `qemu-img convert` of `src` (read as `srcFormat`, never probed again) into
 * `dest`. It writes a temporary file in dest's directory and renames it, so
 * `dest` appears whole or not at all; the temporary file is removed when the
 * conversion fails, times out or is aborted.
 */
export async function convertDiskImage(src: string, srcFormat: DiskImageFormat, dest: string, target: ConvertTarget, opts: WaitOptions = {}): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.part`);
  const options = target.format === 'vmdk' ? ['-o', `subformat=${target.subformat}`] : [];
  try {
    await runCommand('qemu-img', ['convert', '-q', '-f', srcFormat, '-O', target.format, ...options, src, tmp], {
      signal: opts.signal,
      // A conversion streams the whole disk: minutes for a large image.
      timeoutMs: opts.timeoutMs ?? 30 * 60_000,
    });
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
