import { z } from 'zod';
import { resourceIdSchema, resourceNameSchema } from './api-schemas.js';

/** The native API's shapes for virtual networks and their leases (`/api/v1/networks`). */

export const ipv4TextSchema = z.string().max(15).regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address');
export const createNetworkBody = z.strictObject({
  name: resourceNameSchema,
  /** A subnet inside the lab's virtual-network range 198.18.64.0/18, e.g. 198.18.64.0/24, or the single-machine range 198.19.0.0/16. */
  cidr: z.string().max(18).regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 subnet like 198.18.64.0/24')
    // The range rule is checked by controller/network-rules.ts (with messages that say why); the document states it.
    .describe('an IPv4 subnet inside 198.18.64.0/18 (the lab\'s range for virtual networks) or 198.19.0.0/16 (the single-machine network), prefix /16 to /30, e.g. 198.18.64.0/24'),
  gateway: ipv4TextSchema.optional(),
  dns: z.array(ipv4TextSchema).max(4).optional(),
  vlan: z.number().int().min(1).max(4094).optional(),
  /** The part of the subnet handed out as leases; default every host address but the gateway. */
  range: z.strictObject({ first: ipv4TextSchema, last: ipv4TextSchema }).optional(),
  /** The host bridge the network's TAPs join; default `br0` (every lab host's). `nubo up`'s network uses `nubo0`. */
  bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a Linux interface name: 1-15 letters, digits, _ . -').optional(),
  /** Bound to this cluster (it must exist): VMs on the network are placed on its hosts only; default every cluster. */
  cluster: resourceNameSchema.optional(),
});
export type CreateNetworkBody = z.input<typeof createNetworkBody>;
export const leaseStateSchema = z.enum(['free', 'leased', 'held']);
export const leaseView = z.object({
  address: z.string(), mac: z.string(), state: leaseStateSchema,
  /** The holder's id (names are unique only per owner). */
  vm: z.string().nullable(),
  /** The holder's name, when the caller may see that VM (theirs, shared with them, an admin's view); else absent, as for a VM that is gone. */
  vmName: z.string().optional(),
  updatedAt: z.string(),
});
export type LeaseView = z.infer<typeof leaseView>;
export const networkView = z.object({
  id: z.string(),
  name: z.string(),
  cidr: z.string(),
  gateway: z.string().nullable(),
  dns: z.array(z.string()),
  vlan: z.number().nullable(),
  bridge: z.string(),
  /** The cluster it is bound to; null: every cluster. Always sent; optional for readers of older controllers. */
  cluster: z.string().nullable().optional(),
  createdAt: z.string(),
  addresses: z.object({ total: z.number(), free: z.number(), leased: z.number(), held: z.number() }),
});
export type NetworkView = z.infer<typeof networkView>;
/** One network with every address that is not free (leased or held). */
export const networkDetailView = networkView.extend({ leases: z.array(leaseView) });
export type NetworkDetailView = z.infer<typeof networkDetailView>;
export const holdBody = z.strictObject({ address: ipv4TextSchema });
export const holdParams = z.object({ id: resourceIdSchema, address: ipv4TextSchema });
