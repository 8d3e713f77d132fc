import { DISK_IMAGE_FORMATS, type DiskImageFormat } from './inspect-disk-image.js';

/**
 * The disk format a file's name claims (disk.vmdk means to be a vmdk), to be
 * held against what qemu-img detects; undefined where the name says nothing
 * (.img is raw or qcow2 alike).
 */
export function formatOfFileName(name: string): DiskImageFormat | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  if (ext === 'qcow') return 'qcow2';
  return (DISK_IMAGE_FORMATS as readonly string[]).includes(ext ?? '') ? (ext as DiskImageFormat) : undefined;
}
