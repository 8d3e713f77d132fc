import { z } from 'zod';
import { snapshotNameSchema } from '../core/snapshot-name.js';

/**
 * The native API's shapes for disk snapshots (`/api/v1/vms/{id}/snapshots`),
 * shared by the routes and the typed client.
 */

export const createSnapshotBody = z.strictObject({
  /** The snapshot's name, unique among the VM's snapshots. */
  name: snapshotNameSchema,
});
export type CreateSnapshotBody = z.input<typeof createSnapshotBody>;

export const vmSnapshotParams = z.object({ id: z.string().min(1).max(64), name: snapshotNameSchema });

export const snapshotView = z.object({
  name: z.string(),
  /** When it was taken (the host's clock), ISO 8601. */
  createdAt: z.string(),
  /** The guest's clock in seconds when it was taken from a running VM; absent for one taken at rest. */
  vmClockSec: z.number().optional(),
});
export type SnapshotView = z.infer<typeof snapshotView>;
