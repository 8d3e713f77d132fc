import { z } from 'zod';
import { VM_STATES } from '../core/vm-state.js';
import { MAX_CPU_OVERCOMMIT } from '../core/placement/placement-policy.js';
import { migrationPolicySchema } from '../core/migration/migration-policy.js';
import { MAX_SSH_KEY_CHARS, MAX_SSH_KEYS, parseSshPublicKey } from '../util/ssh-public-key.js';

/**
 * The native REST API's shapes (`/api/v1`), shared by the controller's routes
 * (validation, OpenAPI) and the typed client the CLI uses. Requests are strict:
 * an unknown field is an error naming it, not something silently dropped.
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 chars of letters, digits and ._-, starting with a letter or digit');
/** A name of an image, template, VM or network. */
export const resourceNameSchema = name;
const id = z.string().min(1).max(64);
export const idParams = z.object({ id });

// ---------- errors ----------
export const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }),
});

// ---------- hosts ----------
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
  name,
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

// ---------- images ----------
export const imageFormatSchema = z.enum(['qcow2', 'raw', 'kernel', 'initrd']);
export const imageView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  format: imageFormatSchema,
  sizeBytes: z.number(),
  virtualSizeBytes: z.number(),
  sha256: z.string(),
  createdAt: z.string(),
});
export type ImageView = z.infer<typeof imageView>;
/** What a file may be registered as: vmdk and vdi disks are converted to qcow2 on the way in. */
export const registerImageFormatSchema = z.enum(['qcow2', 'raw', 'vmdk', 'vdi', 'kernel', 'initrd']);
const controllerPath = z.string().max(4096).regex(/^\/[^\0]*$/, 'must be an absolute path');
export const registerImageBody = z.strictObject({
  name,
  /** A file in the controller's import directory (--image-import-dir; symlinks and .. resolved), copied into the image store. */
  path: controllerPath,
  /** Default: the disk format qemu-img detects (held against a .qcow2/.raw/.vmdk/.vdi extension); kernel and initrd must be given. */
  format: registerImageFormatSchema.optional(),
});
export type RegisterImageBody = z.input<typeof registerImageBody>;
/** `POST /api/v1/images/upload`: the file is the request body (application/octet-stream); these are its query string. */
export const uploadImageQuery = z.strictObject({
  name,
  /** As for registration: default the disk format qemu-img detects; kernel and initrd must be given. */
  format: registerImageFormatSchema.optional(),
  /** The body's SHA-256 (64 lowercase hex digits): checked before anything is kept. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits').optional(),
});
export type UploadImageQuery = z.input<typeof uploadImageQuery>;

// ---------- networks ----------
const ipv4Text = z.string().max(15).regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address');
export const createNetworkBody = z.strictObject({
  name,
  /** A subnet inside the lab's virtual-network range 198.18.64.0/18, e.g. 198.18.64.0/24, or the single-machine range 198.19.0.0/16. */
  cidr: z.string().max(18).regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 subnet like 198.18.64.0/24')
    // The range rule is checked by controller/network-rules.ts (with messages that say why); the document states it.
    .describe('an IPv4 subnet inside 198.18.64.0/18 (the lab\'s range for virtual networks) or 198.19.0.0/16 (the single-machine network), prefix /16 to /30, e.g. 198.18.64.0/24'),
  gateway: ipv4Text.optional(),
  dns: z.array(ipv4Text).max(4).optional(),
  vlan: z.number().int().min(1).max(4094).optional(),
  /** The part of the subnet handed out as leases; default every host address but the gateway. */
  range: z.strictObject({ first: ipv4Text, last: ipv4Text }).optional(),
  /** The host bridge the network's TAPs join; default `br0` (every lab host's). `nubo up`'s network uses `nubo0`. */
  bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a Linux interface name: 1-15 letters, digits, _ . -').optional(),
});
export type CreateNetworkBody = z.input<typeof createNetworkBody>;
export const leaseStateSchema = z.enum(['free', 'leased', 'held']);
export const leaseView = z.object({ address: z.string(), mac: z.string(), state: leaseStateSchema, vm: z.string().nullable(), updatedAt: z.string() });
export type LeaseView = z.infer<typeof leaseView>;
export const networkView = z.object({
  id: z.string(),
  name: z.string(),
  cidr: z.string(),
  gateway: z.string().nullable(),
  dns: z.array(z.string()),
  vlan: z.number().nullable(),
  bridge: z.string(),
  createdAt: z.string(),
  addresses: z.object({ total: z.number(), free: z.number(), leased: z.number(), held: z.number() }),
});
export type NetworkView = z.infer<typeof networkView>;
/** One network with every address that is not free (leased or held). */
export const networkDetailView = networkView.extend({ leases: z.array(leaseView) });
export type NetworkDetailView = z.infer<typeof networkDetailView>;
export const holdBody = z.strictObject({ address: ipv4Text });
export const holdParams = z.object({ id, address: ipv4Text });

// ---------- templates ----------
export const templateNic = z.strictObject({ network: z.string().max(64).optional() });
export const templateBody = z.strictObject({
  name,
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(16).max(1024 * 1024),
  /** Image name or id of the root disk. */
  image: z.string().min(1).max(64),
  diskMode: z.enum(['overlay', 'copy']).default('overlay'),
  /** Where the VM's disk lives: the host's own datastore, or the `shared` one every host sees (live migration then moves only memory). */
  datastore: z.enum(['local', 'shared']).default('local'),
  /** Direct kernel boot: image names or ids of format kernel/initrd. */
  kernel: z.string().max(64).optional(),
  initrd: z.string().max(64).optional(),
  cmdline: z.string().max(2048).optional(),
  cpuModel: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/).default('qemu64'),
  nics: z.array(templateNic).max(8).default([{}]),
  userData: z.string().max(64 * 1024).optional(),
  /** Placement requirements, e.g. `free_memory_mb > 512 && cpu_model == "qemu64"`. */
  requirements: z.string().max(1024).optional(),
});
export type TemplateBody = z.input<typeof templateBody>;
/** An OVF 1.x package in the controller's import directory (--image-import-dir; symlinks and .. resolved, for the .ovf's files too): an .ova, or an .ovf with its files beside it. */
export const importTemplateBody = z.strictObject({
  path: controllerPath,
  /** Default: the OVF's VirtualSystem name. */
  name: name.optional(),
});
export type ImportTemplateBody = z.input<typeof importTemplateBody>;
/** `POST /api/v1/templates/import/upload`: the .ova is the request body (application/octet-stream); these are its query string. */
export const uploadTemplateQuery = z.strictObject({
  /** Default: the OVF's VirtualSystem name. */
  name: name.optional(),
  /** The body's SHA-256 (64 lowercase hex digits): checked before anything is kept. */
  sha256: uploadImageQuery.shape.sha256,
});
export type UploadTemplateQuery = z.input<typeof uploadTemplateQuery>;
export const templateView = templateBody.extend({ id: z.string(), owner: z.string(), createdAt: z.string(), diskMode: z.enum(['overlay', 'copy']), datastore: z.enum(['local', 'shared']), cpuModel: z.string(), nics: z.array(templateNic) });
export type TemplateView = z.infer<typeof templateView>;

// ---------- VMs ----------
export const vmStateSchema = z.enum(VM_STATES);
export const vmView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  template: z.string().nullable(),
  state: vmStateSchema,
  stateReason: z.string().nullable(),
  host: z.string().nullable(),
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
  address: ipv4Text.optional(),
});
export type AttachNicBody = z.input<typeof attachNicBody>;
export const vmNicParams = z.object({ id, index: z.coerce.number().int().min(0).max(7) });
export type VmDetailView = z.infer<typeof vmDetailView>;
export const createVmBody = z.strictObject({
  name: name.optional(),
  template: z.string().min(1).max(64),
  /** Overrides the template's datastore. */
  datastore: z.enum(['local', 'shared']).optional(),
  vcpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(16).max(1024 * 1024).optional(),
  userData: z.string().max(64 * 1024).optional(),
  requirements: z.string().max(1024).optional(),
});
export type CreateVmBody = z.input<typeof createVmBody>;
export const vmActionSchema = z.enum(['poweroff', 'poweroff-hard', 'start', 'reboot', 'reboot-hard', 'suspend', 'resume', 'stop', 'terminate', 'terminate-hard', 'recover']);
export type VmApiAction = z.infer<typeof vmActionSchema>;
export const vmActionParams = z.object({ id, action: vmActionSchema });
export const listVmsQuery = z.strictObject({ state: vmStateSchema.optional(), host: z.string().max(64).optional() });

/** Purge of terminated VMs' records: those terminated (last changed) at least `olderThanS` seconds ago; default 0, every one. */
export const purgeVmsBody = z.strictObject({ olderThanS: z.number().int().min(0).max(100 * 365 * 86_400).optional() });
export type PurgeVmsBody = z.input<typeof purgeVmsBody>;
export const purgeVmsView = z.object({ purged: z.array(z.object({ id: z.string(), name: z.string(), owner: z.string(), terminatedAt: z.string() })) });
export type PurgeVmsView = z.infer<typeof purgeVmsView>;

// ---------- users ----------
export const userView = z.object({
  id: z.string(), name: z.string(), role: z.enum(['admin', 'user']),
  // Public keys, which the config drive gives the user's VMs (and `nubo vm ssh` matches against ~/.ssh).
  sshKeys: z.array(z.string()),
  createdAt: z.string(),
});
export type UserView = z.infer<typeof userView>;

/** One public key as in a .pub file; the line end and surrounding blanks such a file has are dropped. */
const sshPublicKeyLine = z.string().trim().min(1).max(MAX_SSH_KEY_CHARS).superRefine((line, ctx) => {
  const key = parseSshPublicKey(line);
  if (typeof key === 'string') ctx.addIssue({ code: 'custom', message: key });
});
/** The caller's whole list of keys (PUT replaces it); the VMs created afterwards get them in their config drive. */
export const setSshKeysBody = z.strictObject({
  sshKeys: z.array(sshPublicKeyLine).max(MAX_SSH_KEYS)
    .describe(`the public keys (at most ${MAX_SSH_KEYS}, one "type base64 [comment]" line of at most ${MAX_SSH_KEY_CHARS} characters each, as in ~/.ssh/id_ed25519.pub); they reach the VMs created from now on, not the running ones`),
});
export type SetSshKeysBody = z.input<typeof setSshKeysBody>;

// ---------- events ----------
export const eventView = z.object({ seq: z.number(), at: z.string(), kind: z.string(), resource: z.string(), resourceId: z.string(), data: z.record(z.string(), z.unknown()) });
export type EventView = z.infer<typeof eventView>;

// ---------- migrations ----------
// The bounds are the migration policy's own (core), so that the document states what the server enforces.
const policyLimit = migrationPolicySchema.shape;
export const migrationPolicyBody = z.strictObject({
  maxBandwidthMiBps: policyLimit.maxBandwidthMiBps.unwrap().optional(),
  downtimeMs: policyLimit.downtimeMs.unwrap().optional(),
  maxDowntimeMs: policyLimit.maxDowntimeMs,
  autoConverge: z.boolean().optional(),
  xbzrle: z.boolean().optional(),
  postcopy: z.boolean().optional(),
  timeoutS: policyLimit.timeoutS.unwrap().optional(),
});
export const migrateVmBody = z.strictObject({
  /** Destination host (name or id); the placement rules choose when absent. */
  to: z.string().min(1).max(64).optional(),
  policy: migrationPolicyBody.optional(),
});
export const migrationView = z.object({
  id: z.string(),
  vm: z.string(),
  vmId: z.string(),
  kind: z.enum(['live', 'cold']),
  source: z.string(),
  destination: z.string(),
  stage: z.string(),
  state: z.enum(['running', 'succeeded', 'failed', 'aborted']),
  reason: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Live numbers while running, totals once ended: bytes, passes, dirty rate, downtime, total time, convergence actions. */
  stats: z.record(z.string(), z.unknown()),
  policy: z.record(z.string(), z.unknown()),
  journal: z.array(z.object({ stage: z.string(), at: z.string(), data: z.record(z.string(), z.unknown()).optional() })),
});
export type MigrationView = z.infer<typeof migrationView>;
export const listMigrationsQuery = z.strictObject({
  vm: z.string().max(64).optional(),
  state: z.enum(['running', 'succeeded', 'failed', 'aborted']).optional(),
});
