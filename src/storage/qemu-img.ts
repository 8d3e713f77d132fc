import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';

export interface ImageInfo {
  readonly format: string;
  readonly virtualSize: number;
  readonly actualSize: number;
  readonly backingFile?: string;
  /** The backing file's path as qemu-img resolves it (relative names are taken from the image's directory). */
  readonly fullBackingFile?: string;
  readonly backingFormat?: string;
  readonly encrypted?: boolean;
  /** `format-specific.data` of the JSON answer: vmdk create-type and extents, qcow2 data-file, corrupt … */
  readonly formatSpecific?: Readonly<Record<string, unknown>>;
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

/**
 * Caps for qemu-img reading a file nubo did not make: a crafted header can
 * make `qemu-img info` allocate or loop without bound (CVE-2015-5162), so it
 * runs under these limits, as OpenStack does.
 */
const UNTRUSTED_LIMITS = ['--as=2147483648', '--cpu=30'] as const;

export async function imageInfo(path: string, opts: WaitOptions & { untrusted?: boolean | undefined } = {}): Promise<ImageInfo> {
  // -U: the image may be open by a running VM; reading its header is still safe. An untrusted file is nobody's disk yet.
  const [file, args] = opts.untrusted
    ? ['prlimit', [...UNTRUSTED_LIMITS, 'qemu-img', 'info', '--output=json', path]] as const
    : ['qemu-img', ['info', '-U', '--output=json', path]] as const;
  const { stdout } = await runCommand(file, args, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000 });
  const j = JSON.parse(stdout) as Record<string, unknown>;
  return {
    format: String(j['format']),
    virtualSize: Number(j['virtual-size']),
    actualSize: Number(j['actual-size']),
    ...(typeof j['backing-filename'] === 'string' ? { backingFile: j['backing-filename'] } : {}),
    ...(typeof j['full-backing-filename'] === 'string' ? { fullBackingFile: j['full-backing-filename'] } : {}),
    ...(typeof j['backing-filename-format'] === 'string' ? { backingFormat: j['backing-filename-format'] } : {}),
    ...(j['encrypted'] === true ? { encrypted: true } : {}),
    ...(isRecord(j['format-specific']) && isRecord(j['format-specific']['data']) ? { formatSpecific: j['format-specific']['data'] } : {}),
  };
}

/** Grows (never shrinks) a disk image to `sizeBytes`. */
export async function growImage(path: string, format: 'qcow2' | 'raw', sizeBytes: number, opts: WaitOptions = {}): Promise<void> {
  await runCommand('qemu-img', ['resize', '-q', '-f', format, path, String(sizeBytes)], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 60_000 });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
