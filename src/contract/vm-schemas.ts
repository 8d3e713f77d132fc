import { z } from 'zod';
import { VM_STATES } from '../core/vm-state.js';
import { resourceIdSchema, resourceNameSchema } from './api-schemas.js';
import { ipv4TextSchema } from './network-schemas.js';
import { MIN_VM_MEMORY_MIB } from '../core/memory-minimum.js';
import { firewallRuleSchema, type FirewallRuleWire } from './agent-api.js';

/** The native API's shapes for VMs (`/api/v1/vms`): records, NICs, actions, purge. */

export const vmStateSchema = z.enum(VM_STATES);
export const vmView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  template: z.string().nullable(),
  /**
   * The template's id (`template` is its name, unique only per owner): what a client that maps templates to ids of its own
   * (the EC2 adaptor's AMIs) reads without a lookup. Always sent; optional for readers of older controllers.
   */
  templateId: z.string().nullable().optional(),
  /**
   * A clone's source VM (its id, and its name when it was cloned): the clone took that VM's settings and a copy of its
   * disk, and `template` is the template the source was made from. Absent for a VM that is not a clone.
   */
  cloneOf: z.object({ id: z.string(), name: z.string() }).optional(),
  state: vmStateSchema,
  stateReason: z.string().nullable(),
  host: z.string().nullable(),
  /** Its host's cluster; while it has no host, the cluster it asked for (null: any). Always sent; optional for readers of older controllers. */
  cluster: z.string().nullable().optional(),
  vcpus: z.number(),
  memoryMiB: z.number(),
  /** The datastore its root disk is on now (a disk move changes it): `local` to its host, or `shared` by every host. Always sent; optional for readers of older controllers. */
  datastore: z.enum(['local', 'shared']).optional(),
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
export type VmNicView = z.infer<typeof vmNicView>;
/**
 * The create's answer: the VM and its NICs as admitted (their leased addresses and MACs, known when the create
 * answers), so that a creator that shows them (EC2's RunInstances: each instance's private address) needs no second read.
 */
export const createdVmView = vmView.extend({
  /** Always sent; optional for readers of older controllers. */
  nics: z.array(vmNicView).optional(),
});
export type CreatedVmView = z.infer<typeof createdVmView>;
export const vmDetailView = vmView.extend({
  nics: z.array(vmNicView), history: z.array(vmHistoryView),
  /** The volumes (ids) its create asked for that its prolog has not bound yet; absent when none (see `volumes` of the create). */
  volumesToAttach: z.array(z.string()).optional(),
});
export const attachNicBody = z.strictObject({
  /** Network, by name or id: the NIC gets a lease on it (address and MAC). */
  network: z.string().min(1).max(64),
  /** A free address of the network's range; default its lowest free one. */
  address: ipv4TextSchema.optional(),
});
export type AttachNicBody = z.input<typeof attachNicBody>;
export const vmNicParams = z.object({ id: resourceIdSchema, index: z.coerce.number().int().min(0).max(7) });
export type VmDetailView = z.infer<typeof vmDetailView>;
/** What is wrong with one firewall rule beyond its shape (ports, ICMP types, the CIDR's numbers and host bits); undefined: nothing. */
export function firewallRuleProblem(r: FirewallRuleWire): { field: 'fromPort' | 'toPort' | 'cidr'; message: string } | undefined {
  if (r.protocol === 'tcp' || r.protocol === 'udp') {
    if (r.fromPort < 0) return { field: 'fromPort', message: 'must be a port (0-65535)' };
    if (r.toPort < r.fromPort) return { field: 'toPort', message: `must be at least fromPort ${r.fromPort}` };
  } else if (r.protocol === 'icmp' && (r.fromPort > 255 || r.toPort > 255)) {
    return { field: r.fromPort > 255 ? 'fromPort' : 'toPort', message: 'an ICMP type or code is -1..255' };
  }
  const [address = '', bitsText = ''] = r.cidr.split('/');
  const octets = address.split('.').map(Number);
  const bits = Number(bitsText);
  if (octets.some((o) => o > 255) || bits > 32) return { field: 'cidr', message: `${r.cidr} is not an IPv4 CIDR (a.b.c.d/n, n ≤ 32)` };
  const addr = octets.reduce((a, o) => a * 256 + o, 0);
  const net = addr - (addr % 2 ** (32 - bits));
  if (net !== addr) return { field: 'cidr', message: `${r.cidr} has host bits set (the network is ${[24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.')}/${bits})` };
  return undefined;
}

/** A VM's ingress rules as a client sends them: the wire shape, checked further (firewallRuleProblem). */
export const firewallRulesBody = z.array(firewallRuleSchema).max(256).superRefine((rules, ctx) => {
  rules.forEach((r, i) => {
    const p = firewallRuleProblem(r);
    if (p !== undefined) ctx.addIssue({ code: 'custom', path: [i, p.field], message: p.message });
  });
});

export const createVmBody = z.strictObject({
  /** The VM's id, when the client chooses it (a UUID, e.g. OCCI's create at a client-chosen location); 409 when any VM — a terminated one too — has it. */
  id: z.string().uuid('must be a UUID').optional(),
  name: resourceNameSchema.optional(),
  template: z.string().min(1).max(64),
  /** Overrides the template's datastore. */
  datastore: z.enum(['local', 'shared']).optional(),
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).optional(),
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
  /**
   * Ingress rules of the VM's firewall (nftables on its TAP), in force from its first boot: only what a rule allows reaches the guest;
   * [] admits nothing. Absent: no firewall. EC2's RunInstances sends its security groups' rules here, so no boot runs unfiltered.
   */
  firewall: firewallRulesBody.optional(),
  /** Volumes (ids or names, the creator's, detached) attached in the VM's first prolog, before its first boot; a volume with a file pins the placement to its host. */
  volumes: z.array(z.string().min(1).max(64)).min(1).max(8).optional(),
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
