import { z } from 'zod';
import { resourceNameSchema } from './api-schemas.js';
import { hostView } from './host-schemas.js';

/** The native API's shapes for clusters (`/api/v1/clusters`, admins) and availability zones (`/api/v1/zones`, everyone). */

export const createClusterBody = z.strictObject({
  name: resourceNameSchema,
  description: z.string().max(1024).optional(),
});
export type CreateClusterBody = z.input<typeof createClusterBody>;
export const clusterView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  /** Names of its hosts, and of the networks and datastores bound to it. */
  hosts: z.array(z.string()),
  networks: z.array(z.string()),
  datastores: z.array(z.string()),
});
export type ClusterView = z.infer<typeof clusterView>;
/** `POST /api/v1/clusters/{id}/hosts`: moves a host (name or id) into the cluster. */
export const addClusterHostBody = z.strictObject({ host: z.string().min(1).max(64) });
export type AddClusterHostBody = z.input<typeof addClusterHostBody>;
export const addClusterHostView = z.object({ cluster: z.string(), host: hostView });
export type AddClusterHostView = z.infer<typeof addClusterHostView>;
/** A cluster as an availability zone: what any user may know of it. */
export const zoneView = z.object({ name: z.string(), hosts: z.number().int() });
export type ZoneView = z.infer<typeof zoneView>;
