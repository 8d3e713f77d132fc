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
  /** `evacuating`, then `maintenance`: the host takes no new VMs (see `/hosts/{id}/maintenance`); null: in service. */
  maintenance: z.enum(['evacuating', 'maintenance']).nullable().default(null),
  /** Since when DRS consolidation has the host on standby (placement takes it only when nothing else fits, and wakes it); null: not on standby. */
  standbySince: z.string().nullable().default(null),
  /** Why its own health check fails (proactive HA moves its running VMs away, it takes none); null: healthy. */
  degraded: z.string().nullable().default(null),
  /** The cluster it belongs to (`default` unless an admin moved it: `POST /clusters/{id}/hosts`). */
  cluster: z.string().default('default'),
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

/** `POST /api/v1/hosts/{id}/maintenance`. */
export const hostMaintenanceBody = z.strictObject({
  /** Powered-off and suspended VMs: cold-migrated away (`move`, the default) or left on the host (`leave`). */
  poweredOff: z.enum(['move', 'leave']).optional(),
});
export const maintenanceVmView = z.object({
  vmId: z.string(),
  name: z.string(),
  action: z.enum(['live', 'cold', 'leave']),
  /** `queued`/`moving`: on its way; `moved`/`left`: done; `blocked`: it cannot move (`reason` says why); `failed`: its migration failed. */
  status: z.enum(['queued', 'moving', 'moved', 'left', 'blocked', 'failed']),
  migrationId: z.string().nullable(),
  to: z.string().nullable(),
  reason: z.string().nullable(),
});
export const hostMaintenanceView = z.object({
  host: z.string(),
  hostId: z.string(),
  /** `none`: in service; `blocked`: still evacuating, and what remains cannot move (each such VM `blocked` or `failed` with its reason; blocked ones are checked again every second). */
  state: z.enum(['none', 'evacuating', 'blocked', 'maintenance']),
  poweredOff: z.enum(['move', 'leave']).nullable(),
  since: z.string().nullable(),
  by: z.string().nullable(),
  /** VMs still on the host (a host reaches `maintenance` with zero unless some were left per `poweredOff: leave`). */
  vmsOnHost: z.number().int(),
  vms: z.array(maintenanceVmView),
});
export type HostMaintenanceView = z.infer<typeof hostMaintenanceView>;
