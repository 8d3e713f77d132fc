import { z } from 'zod';
import { MAX_VOLUME_MIB, volumeNameSchema } from '../core/volume-name.js';
import { resourceNameSchema } from './api-schemas.js';

/**
 * The native API's shapes for VM storage (`/api/v1`): live storage migration
 * of a VM's disk and volumes. Shared by the routes and the typed client.
 */

const id = z.string().min(1).max(64);
const datastore = z.enum(['local', 'shared']);

export const diskMoveBody = z.strictObject({
  /** The datastore of the VM's host to move its disk to: `local` or `shared`, not the one it is on. */
  datastore,
  /** Copy rate cap in MiB/s (default: none). */
  maxBandwidthMiBps: z.number().int().min(1).max(100_000).optional(),
});
export type DiskMoveBody = z.input<typeof diskMoveBody>;

export const diskMoveView = z.object({
  vmId: z.string(),
  host: z.string(),
  /** copying → ready (in sync, switching over) → done; or failed / cancelled (the VM stays on its old disk). */
  state: z.enum(['copying', 'ready', 'done', 'failed', 'cancelled']),
  from: datastore,
  to: datastore,
  /** `top`: the new disk is an overlay on the target datastore's copy of the base image and only the VM's own blocks are copied; `full`: every block. */
  sync: z.enum(['top', 'full']),
  /** Bytes copied of `len` (the mirror's view: it grows while the guest writes). */
  offset: z.number(),
  len: z.number(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
});
export type DiskMoveView = z.infer<typeof diskMoveView>;

export const createVolumeBody = z.strictObject({
  name: volumeNameSchema,
  sizeMiB: z.number().int('must be a whole number of MiB').min(1, 'must be at least 1 MiB').max(MAX_VOLUME_MIB, `must be at most ${MAX_VOLUME_MIB} MiB`),
  /** The cluster (EC2 availability zone) it lives in; only VMs on its hosts attach it. None: the cluster of the host of its first attach. */
  cluster: resourceNameSchema.optional(),
});
export type CreateVolumeBody = z.input<typeof createVolumeBody>;

export const attachVolumeBody = z.strictObject({
  /** The volume, by name or id. */
  volume: z.string().min(1).max(64),
});
export type AttachVolumeBody = z.input<typeof attachVolumeBody>;

export const vmVolumeParams = z.object({ id, volume: z.string().min(1).max(64) });

export const volumeView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  sizeMiB: z.number(),
  /** The host its file lives on: set at its first attach, null before. */
  host: z.string().nullable(),
  /** The VM it is attached to (id), or null. */
  vm: z.string().nullable(),
  vmName: z.string().nullable(),
  /** Its place among the VM's volumes (device `vol<slot>`, the same in every boot); null when detached. */
  slot: z.number().nullable(),
  state: z.enum(['available', 'attached']),
  createdAt: z.string(),
  /** The cluster (EC2 availability zone) it lives in; null: none yet (it takes its first attach's host's). */
  cluster: z.string().nullable(),
});
export type VolumeView = z.infer<typeof volumeView>;
