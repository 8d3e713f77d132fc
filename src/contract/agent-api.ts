import { z } from 'zod';
import { snapshotNameSchema } from '../core/snapshot-name.js';
import { vmIdSchema } from '../core/vm-id.js';

/**
 * The agent's HTTP contract, shared by the agent server (validation, OpenAPI)
 * and the controller's agent client (typed calls). One file so that the two
 * sides cannot drift apart.
 */

const mac = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'must be a MAC like 52:54:00:12:34:56 (lower-case hex)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest');
export { vmIdSchema };

/** A file the agent fetches once into its image cache and verifies. */
export const imageRefSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
  url: z.url(),
  sha256,
  sizeBytes: z.number().int().nonnegative(),
  format: z.enum(['qcow2', 'raw', 'kernel', 'initrd']),
});
export type ImageRef = z.infer<typeof imageRefSchema>;

export const agentNicSchema = z.strictObject({
  mac,
  /** Guest address (CIDR) handed over in the config drive. */
  address: z.string().optional(),
  gateway: z.string().optional(),
  dns: z.array(z.string()).max(4).optional(),
  /** Host bridge to attach the TAP to; without it the NIC is user-mode on a private lab subnet. */
  bridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/).optional(),
  /** 802.1Q VLAN of the NIC's network: the TAP is an untagged member of it on a VLAN-filtering bridge. */
  vlan: z.number().int().min(1).max(4094).optional(),
  /**
   * The NIC's number for its whole life (default: its position in `nics`):
   * its device id `nic<index>`, TAP and PCI slot follow it, so that a NIC
   * hot-plugged or left after a detach sits where the next boot or a
   * migration destination puts it.
   */
  index: z.number().int().min(0).max(7).optional(),
});

/** NIC hot-plug (`POST /agent/v1/vms/:id/nics`): one NIC of the VM's spec, its index given. */
export const attachNicRequestSchema = agentNicSchema.extend({ index: z.number().int().min(0).max(7) });
export type AttachNicRequest = z.input<typeof attachNicRequestSchema>;
export const nicIndexParams = z.object({ id: vmIdSchema, index: z.coerce.number().int().min(0).max(7) });

/** One ingress rule of a VM's firewall (its EC2 security groups): what may reach the guest. */
export const firewallRuleSchema = z.strictObject({
  protocol: z.enum(['tcp', 'udp', 'icmp', 'all']),
  /** tcp/udp: the port range; icmp: the type in `fromPort` (-1: any); all: ignored. */
  fromPort: z.number().int().min(-1).max(65535),
  toPort: z.number().int().min(-1).max(65535),
  /** An IPv4 CIDR with its host bits zero. */
  cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 CIDR like 198.18.0.0/15'),
});
export type FirewallRuleWire = z.infer<typeof firewallRuleSchema>;

/**
 * A VM's firewall as the controller wants it (`PUT /agent/v1/vms/:id/firewall`,
 * and in the spec for a boot or a migration's destination): `rules` null is
 * no firewall (open, as a VM outside EC2), [] denies all ingress. `revision`
 * grows with every change, so that an older push never replaces a newer one.
 */
export const vmFirewallSchema = z.strictObject({
  revision: z.number().int().min(0),
  rules: z.array(firewallRuleSchema).max(256).nullable(),
});
export type VmFirewall = z.infer<typeof vmFirewallSchema>;
export const vmFirewallReportSchema = z.object({ revision: z.number().int().min(0), applied: z.boolean() });
export type VmFirewallReport = z.infer<typeof vmFirewallReportSchema>;

/** What the controller asks an agent to run: everything resolved, nothing left to look up. */
export const agentVmSpecSchema = z.strictObject({
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(16).max(1024 * 1024),
  cpuModel: z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/).default('qemu64'),
  disk: z.strictObject({
    image: imageRefSchema,
    /** overlay: qcow2 on the cached image (O(1)); copy: a full standalone copy. */
    mode: z.enum(['overlay', 'copy']).default('overlay'),
    /** local: the host's own datastore (disks move by copy); shared: the datastore every host sees (only memory moves). */
    datastore: z.enum(['local', 'shared']).default('local'),
  }),
  kernel: imageRefSchema.optional(),
  initrd: imageRefSchema.optional(),
  cmdline: z.string().max(2048).optional(),
  nics: z.array(agentNicSchema).max(8).default([]),
  /** Volumes attached (see volumeAttachmentSchema); absent when none. */
  volumes: z.array(z.lazy(() => volumeAttachmentSchema)).max(8).optional(),
  context: z.strictObject({
    hostname: z.string().regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/),
    userData: z.string().max(64 * 1024).optional(),
    sshAuthorizedKeys: z.array(z.string().max(8192)).max(32).optional(),
  }),
  /** The VM's firewall when it boots or arrives here (pushed later by the firewall route); absent: none. */
  firewall: vmFirewallSchema.optional(),
});
export type AgentVmSpec = z.output<typeof agentVmSpecSchema>;
export type AgentVmSpecInput = z.input<typeof agentVmSpecSchema>;

export const agentVmStateSchema = z.enum(['running', 'paused', 'suspended', 'poweroff', 'crashed', 'error', 'inmigrate', 'postmigrate', 'saving']);
export type AgentVmState = z.infer<typeof agentVmStateSchema>;

export const agentVmReportSchema = z.object({
  id: z.string(),
  state: agentVmStateSchema,
  pid: z.number().optional(),
  reason: z.string().optional(),
  /** Set on a destination copy prepared for a live migration that was not activated yet. */
  incomingMigrationId: z.string().optional(),
  /** The revision of the VM's firewall this host holds (see vmFirewallSchema); absent: none. */
  firewallRevision: z.number().int().min(0).optional(),
});
export type AgentVmReport = z.infer<typeof agentVmReportSchema>;

/** A reboot: ACPI first (the guest gets `graceS` to shut down by itself), a reset when `hard` or when it did not. */
export const rebootRequestSchema = z.strictObject({
  hard: z.boolean().default(false),
  graceS: z.number().int().min(1).max(3_600).default(60),
});
export type RebootRequest = z.input<typeof rebootRequestSchema>;
/**
 * A boot: `size` is the VM's vCPUs and memory as the controller has them now,
 * so a powered-off VM resized since its prolog boots with its new size (the
 * agent keeps it in the VM's record first). A suspended VM's saved memory has
 * its old size: a different `size` is refused for it.
 */
export const startRequestSchema = z.strictObject({
  size: z.strictObject({ vcpus: z.number().int().min(1).max(64), memoryMiB: z.number().int().min(16).max(1024 * 1024) }).optional(),
});
export type StartRequest = z.input<typeof startRequestSchema>;
/** The VM after a reboot, and whether the guest shut down by itself (`clean`) or was reset (`resetReason` says why). */
export const agentRebootReportSchema = agentVmReportSchema.extend({ clean: z.boolean(), resetReason: z.string().optional() });
export type AgentRebootReport = z.infer<typeof agentRebootReportSchema>;

export const hostReportSchema = z.object({
  name: z.string(),
  cpuModel: z.string(),
  cpuModels: z.array(z.string()),
  cpuFlags: z.array(z.string()),
  kvm: z.boolean(),
  totalCpus: z.number(),
  totalMemoryMiB: z.number(),
  totalDiskMiB: z.number(),
  usage: z.object({ load: z.number(), usedMemoryMiB: z.number(), usedDiskMiB: z.number() }),
  vms: z.array(agentVmReportSchema),
  /** Bridges VMs can attach to here; absent from agents that do not say. */
  bridges: z.array(z.string()).max(4096).optional(),
  /** How this host takes part in migrations; absent from agents older than live migration. */
  migration: z.object({
    /** Where peers reach this host's incoming migration streams and NBD exports. */
    address: z.string(),
    /** Migration streams in and out of this host are TLS with peer verification. */
    tls: z.boolean(),
    /** The host sees the `shared` datastore. */
    sharedDatastore: z.boolean(),
  }).optional(),
  /** The host's own health check (proactive HA): `degraded` with the failing check's reason; absent from agents that do not check. */
  health: z.object({ degraded: z.string().max(1024).nullable() }).optional(),
  at: z.string(),
});
export type HostReport = z.infer<typeof hostReportSchema>;

export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

const nbdTargetSchema = z.strictObject({
  host: z.string(),
  port: z.number().int().min(1).max(65535),
  exports: z.array(z.strictObject({ diskId: z.string(), name: z.string() })),
});

/** Destination, stage 1: prepare disks and start QEMU waiting for the stream. */
export const incomingRequestSchema = z.strictObject({
  migrationId: z.string().min(1).max(64),
  spec: agentVmSpecSchema,
  postcopy: z.boolean().default(false),
  /** Resume on completion: the destination runs the guest by itself once the stream completed (shared storage, no post-copy). */
  autostart: z.boolean().default(false),
});
export type IncomingRequest = z.input<typeof incomingRequestSchema>;

export const incomingReadySchema = z.object({
  uri: z.string(),
  nbd: nbdTargetSchema.optional(),
  /** How the source must mirror the disks: `top` when the destination has the base image, `full` otherwise; absent for shared storage. */
  mirrorSync: z.enum(['top', 'full']).optional(),
  tls: z.boolean(),
});
export type IncomingReadyReport = z.infer<typeof incomingReadySchema>;

export const mirrorRequestSchema = z.strictObject({
  nbd: nbdTargetSchema,
  sync: z.enum(['top', 'full']),
  maxBandwidthBytes: z.number().int().positive().optional(),
});

export const migrateRequestSchema = z.strictObject({
  uri: z.string().regex(/^tcp:[0-9.]+:[0-9]+$/, 'must be tcp:<address>:<port>'),
  params: z.strictObject({
    maxBandwidthBytes: z.number().int().positive(),
    downtimeLimitMs: z.number().int().positive(),
    autoConverge: z.boolean(),
    xbzrle: z.boolean(),
    postcopy: z.boolean(),
  }),
  /** The destination runs the guest on its own at completion: from then on this source must never run again. */
  destAutostart: z.boolean().default(false),
});

export const tuneRequestSchema = z.strictObject({
  downtimeLimitMs: z.number().int().positive().optional(),
  maxBandwidthBytes: z.number().int().positive().optional(),
  cpuThrottlePercent: z.number().int().min(1).max(99).optional(),
  startPostcopy: z.boolean().optional(),
});

export const migrationProgressSchema = z.object({
  status: z.enum(['none', 'setup', 'active', 'postcopy-active', 'completed', 'failed', 'cancelling', 'cancelled', 'other']),
  transferredBytes: z.number(),
  remainingBytes: z.number(),
  totalBytes: z.number(),
  dirtyRateBytes: z.number(),
  passes: z.number(),
  mbps: z.number(),
  totalTimeMs: z.number().optional(),
  downtimeMs: z.number().optional(),
  expectedDowntimeMs: z.number().optional(),
  cpuThrottlePercent: z.number().optional(),
  error: z.string().optional(),
  disks: z.array(z.object({ diskId: z.string(), offset: z.number(), len: z.number(), ready: z.boolean() })),
});
export type MigrationProgressReport = z.infer<typeof migrationProgressSchema>;

// ---- cold migration: agent-to-agent file transfer ----

/**
 * The files of a VM that a cold migration copies, by name (never a path):
 * its disk overlay and config drive (local datastore only: a shared one is
 * seen by both hosts) and its saved memory when it is suspended.
 * `capture.qcow2` is not a migration's: a standalone copy of the disk that the
 * controller pulls to make an image of the VM (see captureRequestSchema).
 */
export const transferFileNameSchema = z.enum(['disk.qcow2', 'cidata.iso', 'memory.state', 'capture.qcow2']);
export type TransferFileName = z.infer<typeof transferFileNameSchema>;
/** The name a capture is offered under (and its file's name in the VM's directory). */
export const CAPTURE_FILE: TransferFileName = 'capture.qcow2';
/**
 * Where an offered file lies on the source's machine
 * (`GET /agent/v1/transfers/<transferId>/files/<name>/local`, the offer's
 * token): a destination on the same machine (same kernel boot id) copies the
 * file locally instead of over the network, after checking that the path
 * opens the same device and inode.
 */
export const transferLocalSourceSchema = z.strictObject({
  bootId: z.string().regex(/^[0-9a-f-]{36}$/, 'must be a kernel boot id'),
  path: z.string().startsWith('/', 'must be an absolute path').max(4096),
  dev: z.string().regex(/^[0-9]{1,20}$/, 'must be a device number'),
  ino: z.string().regex(/^[0-9]{1,20}$/, 'must be an inode number'),
});
export type TransferLocalSource = z.infer<typeof transferLocalSourceSchema>;
export const transferFileSchema = z.strictObject({ name: transferFileNameSchema, sizeBytes: z.number().int().nonnegative() });
const transferId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 hex digits');

/** Source: offer a powered-off or suspended VM's files to one destination, read-only, until the offer expires or is revoked. */
export const transferOfferRequestSchema = z.strictObject({
  migrationId: z.string().min(1).max(64),
  /** How long the offer's token stays valid. */
  ttlS: z.number().int().min(10).max(86_400).default(3_600),
});
export type TransferOfferRequest = z.input<typeof transferOfferRequestSchema>;

export const transferOfferSchema = z.object({
  transferId,
  /** Bearer token for `GET /agent/v1/transfers/<transferId>/files/<name>` on the source agent: this offer's files only. */
  token: z.string(),
  files: z.array(transferFileSchema),
  expiresAt: z.string(),
});
export type TransferOffer = z.infer<typeof transferOfferSchema>;

/** Destination: pull an offer's files from the source agent, verify them, install the VM (not yet this host's: see receive/commit). */
export const receiveRequestSchema = z.strictObject({
  migrationId: z.string().min(1).max(64),
  spec: agentVmSpecSchema,
  source: z.strictObject({
    /** The source agent's base URL, as the controller reaches it. */
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    transferId,
    token: z.string().min(32).max(128),
  }),
  files: z.array(transferFileSchema).max(3).refine((fs) => new Set(fs.map((f) => f.name)).size === fs.length, 'must name each file once'),
  /** Cap on the copy, bytes per second (the migration policy's maxBandwidthMiBps). */
  maxBandwidthBytes: z.number().int().positive().optional(),
});
export type ReceiveRequest = z.input<typeof receiveRequestSchema>;

/**
 * - copying: the pull is under way;
 * - verified: every file arrived with the source's size and sha256 and is in
 *   place; the VM is installed here but not yet this host's;
 * - failed: the pull ended with `error`; what it wrote was removed;
 * - done: committed (receive/commit): an ordinary VM of this host.
 */
export const receiveStatusSchema = z.object({
  migrationId: z.string().optional(),
  state: z.enum(['copying', 'verified', 'failed', 'done']),
  copiedBytes: z.number(),
  totalBytes: z.number(),
  files: z.array(z.object({ name: transferFileNameSchema, sizeBytes: z.number(), sha256: z.string().optional() })),
  error: z.string().optional(),
});
export type ReceiveStatus = z.infer<typeof receiveStatusSchema>;

// ---- live storage migration: a running VM's disk moves to the host's other datastore ----

export const diskMoveRequestSchema = z.strictObject({
  /** The datastore to move the VM's disk (and config drive) to: not the one it is on. */
  datastore: z.enum(['local', 'shared']),
  /** Copy rate cap, bytes per second. */
  maxBandwidthBytes: z.number().int().positive().optional(),
});
export type DiskMoveRequest = z.input<typeof diskMoveRequestSchema>;

/**
 * - copying: the mirror runs (`offset` of `len` bytes copied); ready: in sync, switching over;
 * - done: the VM runs on the new file and the old one is deleted;
 * - failed / cancelled: the VM runs on its old file, the new one is deleted.
 */
export const diskMoveStatusSchema = z.object({
  state: z.enum(['copying', 'ready', 'done', 'failed', 'cancelled']),
  from: z.enum(['local', 'shared']),
  to: z.enum(['local', 'shared']),
  /** How the new file was made: `top` (an overlay on the target datastore's copy of the base, only the VM's own blocks copied) or `full`. */
  sync: z.enum(['top', 'full']),
  offset: z.number(),
  len: z.number(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
});
export type DiskMoveStatus = z.infer<typeof diskMoveStatusSchema>;

// ---- volumes: data disks apart from any VM, files in <dataDir>/volumes/ ----

export const volumeIdSchema = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a volume id (UUID)');

/** One volume of a VM: its file is made (empty, qcow2) on first attach; `slot` fixes its device id (`vol<slot>`) and PCI slot. */
export const volumeAttachmentSchema = z.strictObject({
  id: volumeIdSchema,
  slot: z.number().int().min(0).max(7),
  sizeMiB: z.number().int().min(1).max(1024 * 1024),
});
export type VolumeAttachment = z.infer<typeof volumeAttachmentSchema>;
export const vmVolumeParams = z.object({ id: vmIdSchema, volumeId: volumeIdSchema });

// ---- disk snapshots: qcow2 internal snapshots inside the VM's disk file ----

export const snapshotRequestSchema = z.strictObject({ name: snapshotNameSchema });
export type SnapshotRequest = z.infer<typeof snapshotRequestSchema>;
export const diskSnapshotSchema = z.object({
  name: z.string(),
  /** qcow2's own number for the snapshot. */
  id: z.string(),
  createdAt: z.string(),
  /** Guest clock (s) when taken from a running VM; 0 when taken at rest. */
  vmClockSec: z.number(),
});
export type DiskSnapshotReport = z.infer<typeof diskSnapshotSchema>;
export const vmSnapshotParams = z.object({ id: vmIdSchema, name: snapshotNameSchema });

// ---- disk capture: a standalone copy of a VM's disk that the controller pulls (save as image, clone, export) ----

/** Capture the VM's disk and offer the copy (`capture.qcow2`) under a token of its own, as a cold migration offers its files. */
export const captureRequestSchema = z.strictObject({
  /** The controller's operation, for the logs and for a retry to be recognised. */
  captureId: z.string().min(1).max(64),
  /** How long the offer's token stays valid. */
  ttlS: z.number().int().min(10).max(86_400).default(3_600),
});
export type CaptureRequest = z.input<typeof captureRequestSchema>;

/** HA: the VMs a fenced host that came back must end — they run on other hosts now. */
export const staleVmsRequestSchema = z.strictObject({ vmIds: z.array(vmIdSchema).max(4096) });
export type StaleVmsRequest = z.infer<typeof staleVmsRequestSchema>;
/** `POST /agent/v1/vms/{id}/dirty-rate`: measure how fast the running guest dirties memory (the migration planner's input). */
export const dirtyRateRequestSchema = z.strictObject({ calcTimeS: z.number().int().min(1).max(10).default(1) });
export const dirtyRateSchema = z.object({ dirtyBytesPerSec: z.number().min(0), calcTimeS: z.number(), mode: z.string() });
export type DirtyRateReport = z.infer<typeof dirtyRateSchema>;
