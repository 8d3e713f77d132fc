import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';

export interface ImageInfo {
  readonly format: string;
  readonly virtualSize: number;
  readonly actualSize: number;
  readonly backingFile?: string;
  readonly backingFormat?: string;
}

/**
 * A qcow2 overlay on `base`: the VM writes into the overlay, the base stays
 * shared and untouched — O(1) in the base image's size.
 */
export async function createOverlay(base: string, baseFormat: 'qcow2' | 'raw', path: string, opts: WaitOptions = {}): Promise<void> {
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', base, path], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
}

export async function createImage(path: string, format: 'qcow2' | 'raw', sizeBytes: number, opts: WaitOptions = {}): Promise<void> {
  await runCommand('qemu-img', ['create', '-q', '-f', format, path, String(sizeBytes)], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
}

export async function imageInfo(path: string, opts: WaitOptions = {}): Promise<ImageInfo> {
  // -U: the image may be open by a running VM; reading its header is still safe.
  const { stdout } = await runCommand('qemu-img', ['info', '-U', '--output=json', path], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
  const j = JSON.parse(stdout) as Record<string, unknown>;
  return {
    format: String(j['format']),
    virtualSize: Number(j['virtual-size']),
    actualSize: Number(j['actual-size']),
    ...(typeof j['backing-filename'] === 'string' ? { backingFile: j['backing-filename'] } : {}),
    ...(typeof j['backing-filename-format'] === 'string' ? { backingFormat: j['backing-filename-format'] } : {}),
  };
}
