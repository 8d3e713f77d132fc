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
  /** Set while the VM takes part in a live migration; QEMU cannot tell a restarted driver which side it is on. */
  readonly migration?: VmMigrationRecord | undefined;
  /** Disks whose block nodes have the alternate names after a move (see qmp-disk-move.ts diskNodes). */
  readonly movedDisks?: readonly string[] | undefined;
}

/**
 * - incoming: the destination copy, from `startIncoming` until `activateIncoming`;
 * - outgoing: the source, from `mirrorDisks` or `migrateOut` until the migration is cancelled or the VM destroyed.
 */
export type VmMigrationRecord =
  | { readonly role: 'incoming'; readonly nbd: boolean; readonly tls: boolean }
  | {
      readonly role: 'outgoing';
      /** `migrate` was issued: from then on query-migrate speaks of this migration, not of how the VM arrived. */
      readonly started: boolean;
      /** Whether the vCPUs ran when `migrate` was issued: only then may an abort `cont` them. */
      readonly wasRunning: boolean;
    };

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
