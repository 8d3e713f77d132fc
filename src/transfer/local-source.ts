import { readFile, stat, type FileHandle } from 'node:fs/promises';
import type { TransferLocalSource } from '../contract/agent-api.js';

/** Where this kernel's boot id is: the same on every agent of one machine (whatever its namespaces), different on every other machine and after a reboot. */
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** This machine's boot id, or undefined where the kernel does not expose one (then no copy is ever local). */
export async function bootId(file = BOOT_ID_FILE): Promise<string | undefined> {
  const id = await readFile(file, 'utf8').then((t) => t.trim(), () => '');
  return /^[0-9a-f-]{36}$/.test(id) ? id : undefined;
}

/**
 * What an offer tells a peer about one of its files so that a peer on the
 * same machine can copy it without the network: this kernel's boot id, the
 * path, and the file's device and inode, which the peer checks on the file it
 * opens — a path alone could name another file in another mount.
 */
export async function localSourceOf(path: string, boot: string | undefined): Promise<TransferLocalSource | undefined> {
  if (boot === undefined) return undefined;
  const s = await stat(path, { bigint: true });
  return { bootId: boot, path, dev: s.dev.toString(), ino: s.ino.toString() };
}

/** Whether an open file is the one the offer described (same device and inode, the offered size, a regular file). */
export async function isOfferedFile(fh: FileHandle, src: TransferLocalSource, sizeBytes: number): Promise<boolean> {
  const s = await fh.stat({ bigint: true });
  return s.isFile() && s.dev.toString() === src.dev && s.ino.toString() === src.ino && s.size === BigInt(sizeBytes);
}
