import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';

/**
 * The native API's shapes for datastores (`/api/v1/datastores`): admins make
 * and delete them; every user lists them, to pick one for a VM or template.
 */

export const DATASTORE_API_KINDS = ['local', 'shared'] as const;

export const createDatastoreBody = z
  .strictObject({
    name: resourceNameSchema,
    /** `local`: one host's own directory (its agent's data directory); `shared`: a directory every host of its cluster mounts at the same path (the agent's `--shared-dir`, e.g. NFS). */
    kind: z.enum(DATASTORE_API_KINDS),
    /** The host of a `local` datastore, by name or id (required for `local`, refused for `shared`). */
    host: z.string().min(1).max(64).optional(),
    /** Where it is on the hosts: an absolute path. */
    path: z.string().min(1).max(4096).regex(/^\//, 'must be an absolute path'),
    /** The cluster whose hosts reach a `shared` datastore; none: every cluster. A `local` one is in its host's cluster. */
    cluster: resourceNameSchema.optional(),
    /** Its size, MiB, when known (a `local` one's is its host's disk). */
    capacityMiB: z.number().int('must be a whole number of MiB').min(1, 'must be at least 1 MiB').max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.kind === 'local' && v.host === undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'a local datastore needs its host' });
    if (v.kind === 'shared' && v.host !== undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'a shared datastore belongs to no one host; give its cluster instead' });
    if (v.kind === 'local' && v.cluster !== undefined) ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'a local datastore is in its host\'s cluster; name none' });
  });
export type CreateDatastoreBody = z.input<typeof createDatastoreBody>;

export const datastoreView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['local', 'shared', 'image']),
  /** The cluster whose hosts reach it (a local one's: its host's); null: every cluster. */
  cluster: z.string().nullable(),
  /** Size and what is used, MiB, as far as nubo knows: a local one's from its host's heartbeat, a shared one's capacity as an admin gave it and its VMs' disks at their full (virtual) size. Null: not known. */
  capacityMiB: z.number().nullable(),
  usedMiB: z.number().nullable(),
  createdAt: z.string(),
  /** Admins only: its host (local), its path, the hosts that see it now, and what uses it. */
  host: z.string().nullable().optional(),
  path: z.string().optional(),
  hosts: z.array(z.string()).optional(),
  usedBy: z.object({ vms: z.array(z.string()), volumes: z.array(z.string()), templates: z.array(z.string()) }).optional(),
});
export type DatastoreView = z.infer<typeof datastoreView>;
