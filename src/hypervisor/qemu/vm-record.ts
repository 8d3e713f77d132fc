import { rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { vmSpecSchema, type VmSpec } from '../vm-spec.js';
import type { TapRef } from '../../network/tap-device.js';
import { readJsonFile } from '../../util/read-json-file.js';

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
      /** The destination runs the guest on its own at completion: a completed source must never run again. */
      readonly destAutostart?: boolean | undefined;
    };

export async function writeVmRecord(path: string, rec: VmRecord): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(rec, null, 2));
  await rename(tmp, path);
}

// Loose: a field a newer driver added survives a read by this one instead of being stripped on the next write.
const vmRecordSchema = z.looseObject({
  spec: vmSpecSchema,
  taps: z.array(z.strictObject({ name: z.string().min(1), netns: z.string().min(1).optional() })),
  startedAt: z.string(),
  migration: z
    .discriminatedUnion('role', [
      z.strictObject({ role: z.literal('incoming'), nbd: z.boolean(), tls: z.boolean() }),
      z.strictObject({ role: z.literal('outgoing'), started: z.boolean(), wasRunning: z.boolean(), destAutostart: z.boolean().optional() }),
    ])
    .optional(),
  movedDisks: z.array(z.string()).optional(),
});

/** The record, validated; undefined only when there is none (ENOENT). Anything else unusable is an UnreadableFileError. */
export async function readVmRecord(path: string): Promise<VmRecord | undefined> {
  const r = await readJsonFile(path, vmRecordSchema, 'VM record');
  if (r === undefined) return undefined;
  const taps: TapRef[] = r.taps.map((t) => (t.netns === undefined ? { name: t.name } : { name: t.name, netns: t.netns }));
  return { ...r, spec: Object.freeze(r.spec), taps };
}
