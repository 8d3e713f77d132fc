import { readFile, rename, writeFile } from 'node:fs/promises';
import type { VmSpec } from '../vm-spec.js';
import type { TapRef } from '../../network/tap-device.js';

/**
 * What the driver persists per VM, beside its sockets: the current spec
 * (including hot-plugged disks) and the TAPs it created, so that a restarted
 * driver can adopt the VM or clean up after it.
 */
export interface VmRecord {
  readonly spec: VmSpec;
  readonly taps: readonly TapRef[];
  readonly startedAt: string;
}

export async function writeVmRecord(path: string, rec: VmRecord): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(rec, null, 2));
  await rename(tmp, path);
}

export async function readVmRecord(path: string): Promise<VmRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as VmRecord;
  } catch {
    return undefined;
  }
}
