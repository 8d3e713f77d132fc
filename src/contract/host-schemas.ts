import { z } from 'zod';
import { MAX_CPU_OVERCOMMIT } from '../core/placement/placement-policy.js';
import { resourceNameSchema } from './api-schemas.js';

/** The native API's shapes for hosts (`/api/v1/hosts`). */

const cpuOvercommitField = z.number().positive().max(MAX_CPU_OVERCOMMIT);
export const hostStateSchema = z.enum(['init', 'enabled', 'disabled', 'error', 'offline']);
export const resources = z.object({ cpus: z.number(), memoryMiB: z.number(), diskMiB: z.number() });
export const hostView = z.object({
  id: z.string(),
  name: z.string(),
  state: hostStateSchema,
  /** null unless the caller is an admin. */
  agentUrl: z.string().nullable(),
  cpuModel: z.string().nullable(),
  total: resources,
  reserved: resources,
  usage: z.record(z.string(), z.unknown()).nullable(),
  lastHeartbeatAt: z.string().nullable(),
  vms: z.number().int(),
  /** vCPUs per physical CPU the scheduler allows on this host; null: the controller's default. */
  cpuOvercommit: z.number().nullable(),
});
export type HostView = z.infer<typeof hostView>;
export const registerHostBody = z.strictObject({
  name: resourceNameSchema,
  agentUrl: z.url({ protocol: /^https?$/ }),
  agentToken: z.string().min(16, 'must be at least 16 characters').max(256),
  /** vCPUs per physical CPU the scheduler allows on this host (default: the controller's, 1 unless configured). */
  cpuOvercommit: cpuOvercommitField.optional(),
});
export const updateHostBody = z.strictObject({
  /** null: back to the controller's default. */
  cpuOvercommit: cpuOvercommitField.nullable(),
});
export type UpdateHostBody = z.input<typeof updateHostBody>;
