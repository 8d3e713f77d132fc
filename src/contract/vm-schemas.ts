import { z } from 'zod';
import { VM_STATES } from '../core/vm-state.js';
import { resourceIdSchema, resourceNameSchema } from './api-schemas.js';
import { ipv4TextSchema } from './network-schemas.js';

/** The native API's shapes for VMs (`/api/v1/vms`): records, NICs, actions, purge. */

export const vmStateSchema = z.enum(VM_STATES);
export const vmView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  template: z.string().nullable(),
  state: vmStateSchema,
  stateReason: z.string().nullable(),
  host: z.string().nullable(),
  /** Its host's cluster; while it has no host, the cluster it asked for (null: any). Always sent; optional for readers of older controllers. */
  cluster: z.string().nullable().optional(),
  vcpus: z.number(),
  memoryMiB: z.number(),
  allowedActions: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type VmView = z.infer<typeof vmView>;
export const vmHistoryView = z.object({ from: vmStateSchema.nullable(), to: vmStateSchema, action: z.string(), reason: z.string().nullable(), at: z.string() });
/** A NIC as admitted or attached: its network (name) and leased address (CIDR), or neither for a NIC without a network. */
export const vmNicView = z.object({
  /** The NIC's number for its life (what `DELETE /vms/{id}/nics/{index}` takes): detaching a NIC does not renumber the others. */
  index: z.number().int(),
  network: z.string().nullable(),
  address: z.string().nullable(),
  mac: z.string(),
});
export const vmDetailView = vmView.extend({ nics: z.array(vmNicView), history: z.array(vmHistoryView) });
export const attachNicBody = z.strictObject({
  /** Network, by name or id: the NIC gets a lease on it (address and MAC). */
  network: z.string().min(1).max(64),
  /** A free address of the network's range; default its lowest free one. */
  address: ipv4TextSchema.optional(),
});
export type AttachNicBody = z.input<typeof attachNicBody>;
export const vmNicParams = z.object({ id: resourceIdSchema, index: z.coerce.number().int().min(0).max(7) });
export type VmDetailView = z.infer<typeof vmDetailView>;
export const createVmBody = z.strictObject({
  /** The VM's id, when the client chooses it (a UUID, e.g. OCCI's create at a client-chosen location); 409 when any VM — a terminated one too — has it. */
  id: z.string().uuid('must be a UUID').optional(),
  name: resourceNameSchema.optional(),
  template: z.string().min(1).max(64),
  /** Overrides the template's datastore. */
  datastore: z.enum(['local', 'shared']).optional(),
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(16).max(1024 * 1024).optional(),
  userData: z.string().max(64 * 1024).optional(),
  requirements: z.string().max(1024).optional(),
  /** Places the VM in this cluster (it must exist); overrides the template's. */
  cluster: resourceNameSchema.optional(),
  /** Overrides the template's NICs: one entry per NIC, on a network (by name or id) or, without one, on none. */
  nics: z.array(z.strictObject({ network: z.string().min(1).max(64).optional() })).min(1).max(8).optional(),
  /** High availability: restarted on another host when its host is fenced (needs its disk on the shared datastore; else reported lost). */
  ha: z.boolean().optional(),
  /** Admins: deploy on this host (name or id), once — not a lasting requirement; it must pass every placement filter now. */
  host: z.string().min(1).max(64).optional(),
});
export type CreateVmBody = z.input<typeof createVmBody>;
export const vmActionSchema = z.enum(['poweroff', 'poweroff-hard', 'start', 'reboot', 'reboot-hard', 'suspend', 'resume', 'stop', 'terminate', 'terminate-hard', 'recover']);
export type VmApiAction = z.infer<typeof vmActionSchema>;
export const vmActionParams = z.object({ id: resourceIdSchema, action: vmActionSchema });
export const listVmsQuery = z.strictObject({ state: vmStateSchema.optional(), host: z.string().max(64).optional() });

/** Purge of terminated VMs' records: those terminated (last changed) at least `olderThanS` seconds ago; default 0, every one. */
export const purgeVmsBody = z.strictObject({ olderThanS: z.number().int().min(0).max(100 * 365 * 86_400).optional() });
export type PurgeVmsBody = z.input<typeof purgeVmsBody>;
export const purgeVmsView = z.object({ purged: z.array(z.object({ id: z.string(), name: z.string(), owner: z.string(), terminatedAt: z.string() })) });
export type PurgeVmsView = z.infer<typeof purgeVmsView>;
