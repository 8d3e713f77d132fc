import { basename, dirname, relative, resolve, isAbsolute } from 'node:path';
import { errorMessage } from '../errors/nubo-error.js';
import { CommandError } from '../errors/command-error.js';
import type { WaitOptions } from '../util/deadline.js';
import { DiskImageError } from './disk-image-error.js';
import { imageInfo } from './qemu-img.js';

/** The disk image formats nubo takes in; vmdk and vdi are converted to qcow2 on the way. */
export const DISK_IMAGE_FORMATS = ['qcow2', 'raw', 'vmdk', 'vdi'] as const;
export type DiskImageFormat = (typeof DISK_IMAGE_FORMATS)[number];

export interface DiskImageInspection {
  readonly format: DiskImageFormat;
  /** Size of the disk the guest sees. */
  readonly virtualSize: number;
  /** Bytes the file occupies. */
  readonly actualSize: number;
  /** vmdk only: its create-type (monolithicSparse or streamOptimized). */
  readonly subformat?: string;
}

export interface InspectDiskImageOptions extends WaitOptions {
  /** The format the caller says the file is in: refused if qemu-img detects another. */
  readonly declaredFormat?: DiskImageFormat | undefined;
  /** Where the image is to live: any backing file is refused, and the message says whether it points outside. */
  readonly datastoreDir?: string | undefined;
  /** How messages name the file (default: its base name). */
  readonly displayName?: string | undefined;
}

/** The only vmdk kinds that keep all their data in the one file: the others name extent files elsewhere (even /dev/sda). */
const SELF_CONTAINED_VMDK = new Set(['monolithicSparse', 'streamOptimized']);

function isDiskImageFormat(f: string): f is DiskImageFormat {
  return (DISK_IMAGE_FORMATS as readonly string[]).includes(f);
}

/**
 * What qemu-img makes of a file nubo is asked to take in, or a
 * DiskImageError saying why it is refused: a format other than the declared
 * one or not one of DISK_IMAGE_FORMATS, a backing file, data in other files
 * (vmdk extents, a qcow2 data-file), encryption, corruption, zero size.
 * qemu-img probes the format (never trusting a name) under resource limits.
 */
export async function inspectDiskImage(path: string, opts: InspectDiskImageOptions = {}): Promise<DiskImageInspection> {
  const name = opts.displayName ?? basename(path);
  const info = await imageInfo(path, { untrusted: true, signal: opts.signal, timeoutMs: opts.timeoutMs }).catch((err: unknown) => {
    if (err instanceof CommandError) throw new DiskImageError(name, 'unreadable', `qemu-img cannot read ${name}: ${err.stderr.trim().split('\n').pop() ?? errorMessage(err)}`, { cause: err });
    throw err;
  });
  if (!isDiskImageFormat(info.format)) {
    throw new DiskImageError(name, 'unsupported-format', `${name} is a ${info.format} image; nubo takes ${DISK_IMAGE_FORMATS.join(', ')}`);
  }
  if (opts.declaredFormat !== undefined && opts.declaredFormat !== info.format) {
    throw new DiskImageError(name, 'format-mismatch', `file ${name} is not a ${opts.declaredFormat} image: qemu-img detects ${info.format}`);
  }
  if (info.backingFile !== undefined) {
    const full = info.fullBackingFile ?? info.backingFile;
    const target = isAbsolute(full) ? full : resolve(dirname(path), full);
    const where = opts.datastoreDir === undefined ? '' : isInside(target, opts.datastoreDir) ? ', inside the datastore' : ', which points outside the datastore';
    throw new DiskImageError(name, 'backing-file', `${name} has a backing file (${info.backingFile}${where}); a base image must stand alone — flatten it with qemu-img convert first`);
  }
  const data = info.formatSpecific ?? {};
  let subformat: string | undefined;
  if (info.format === 'vmdk') {
    subformat = typeof data['create-type'] === 'string' ? data['create-type'] : 'unknown';
    const extents = Array.isArray(data['extents']) ? (data['extents'] as { filename?: unknown }[]) : [];
    const foreign = extents.map((e) => String(e.filename)).filter((f) => basename(f) !== basename(path));
    if (!SELF_CONTAINED_VMDK.has(subformat) || foreign.length > 0) {
      throw new DiskImageError(name, 'external-file', `${name} is a ${subformat} vmdk${foreign.length > 0 ? ` whose data lies in other files (${foreign.join(', ')})` : ''}; only monolithicSparse and streamOptimized vmdk files stand alone`);
    }
  }
  if (typeof data['data-file'] === 'string') {
    throw new DiskImageError(name, 'external-file', `${name} keeps its data in an external file (${data['data-file']}); a base image must stand alone`);
  }
  if (info.encrypted === true || data['encrypt'] !== undefined) throw new DiskImageError(name, 'encrypted', `${name} is encrypted; import a decrypted image`);
  if (data['corrupt'] === true) throw new DiskImageError(name, 'corrupt', `${name} is marked corrupt; repair it with qemu-img check -r all`);
  if (!(info.virtualSize > 0)) throw new DiskImageError(name, 'empty', `${name} is a zero-size disk`);
  return { format: info.format, virtualSize: info.virtualSize, actualSize: info.actualSize, ...(subformat !== undefined ? { subformat } : {}) };
}

function isInside(path: string, dir: string): boolean {
  const r = relative(resolve(dir), resolve(path));
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}
