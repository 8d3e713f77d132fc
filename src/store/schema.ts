import type { Generated } from 'kysely';
import type { HaRestartsTable, HostFencingTable, VmHaTable } from './ha-tables.js';
import type { CapacityLeaseEventsTable, CapacityLeaseVmsTable, CapacityLeasesTable } from './capacity-lease-tables.js';
import type { AccessKeysTable, S3BucketsTable, S3ObjectsTable, S3PartsTable, S3UploadsTable } from './s3-tables.js';
import type { CloudMigrationsTable, CloudsTable, CloudVmsTable } from './cloud-tables.js';

export * from './ha-tables.js';
export * from './capacity-lease-tables.js';
export * from './s3-tables.js';
export * from './cloud-tables.js';

/**
 * The controller's tables as Kysely sees them (snake_case rows). Portable
 * between SQLite and PostgreSQL: ids are text UUIDs made in TypeScript,
 * timestamps are ISO-8601 UTC text (`Date#toISOString()`, so they sort as
 * text), JSON is text parsed by the repositories, booleans would be 0/1.
 * Repositories turn rows into camelCase domain objects; nothing above
 * store/ sees these types.
 */

export const USER_ROLES = ['admin', 'user'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const HOST_STATES = ['init', 'enabled', 'disabled', 'error', 'offline'] as const;
export type HostState = (typeof HOST_STATES)[number];

export const DATASTORE_KINDS = ['local', 'shared', 'image'] as const;
export type DatastoreKind = (typeof DATASTORE_KINDS)[number];

/** Disk images, and the kernel and initrd files of direct kernel boot. */
export const IMAGE_FORMATS = ['qcow2', 'raw', 'kernel', 'initrd'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const IMAGE_STATES = ['ready', 'deleting'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

// DESIGN.md §3: the states and the rules live in core/; the store only records them.
export { VM_STATES, type VmState } from '../core/vm-state.js';
import type { VmState } from '../core/vm-state.js';

export const LEASE_STATES = ['free', 'leased', 'held'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

export const MIGRATION_KINDS = ['live', 'cold'] as const;
export type MigrationKind = (typeof MIGRATION_KINDS)[number];
export const MIGRATION_STATES = ['running', 'succeeded', 'failed', 'aborted'] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

/** ISO-8601 UTC timestamp text, e.g. `2025-01-31T12:00:00.000Z`. */
export type IsoTime = string;
/** A JSON document stored as text. */
export type JsonText = string;

export interface UsersTable {
  id: string;
  name: string;
  role: UserRole;
  token_hash: string;
  ssh_keys: JsonText;
  created_at: IsoTime;
  /** Set when the user was deleted (0006); the row stays for the records that name it. */
  deleted_at: IsoTime | null;
}

export interface HostsTable {
  id: string;
  name: string;
  agent_url: string;
  agent_token: string;
  state: HostState;
  cpu_model: string;
  cpu_flags: JsonText;
  total_cpus: number;
  total_memory_mib: number;
  total_disk_mib: number;
  reserved_cpus: number;
  reserved_memory_mib: number;
  reserved_disk_mib: number;
  usage: JsonText | null;
  last_heartbeat_at: IsoTime | null;
  labels: JsonText;
  created_at: IsoTime;
  /** vCPUs per physical CPU; null: the placement policy's default. */
  cpu_overcommit: number | null;
  /** Set while the host is (going) in maintenance (0011); null: in service. */
  maintenance_state: HostMaintenanceState | null;
  /** The evacuation's options and report (JSON, 0011). */
  maintenance: JsonText | null;
  /** Since when consolidation keeps the host on standby (migration 0013); null: it takes VMs. */
  standby_since: IsoTime | null;
  /** Why the host's own health check fails (migration 0021, proactive HA); null: healthy. */
  degraded: string | null;
  /** The name of the cluster it belongs to (migration 0028; `default` for hosts from before; the column's default for new ones). */
  cluster: Generated<string>;
}

/** A cluster of hosts with its own networks and datastores; an EC2 availability zone (0028). */
export interface ClustersTable {
  id: string;
  name: string;
  description: string;
  created_at: IsoTime;
}

export const HOST_MAINTENANCE_STATES = ['evacuating', 'maintenance'] as const;
export type HostMaintenanceState = (typeof HOST_MAINTENANCE_STATES)[number];

export const MIGRATION_QUEUE_STATES = ['queued', 'started', 'cancelled', 'refused'] as const;
export type MigrationQueueState = (typeof MIGRATION_QUEUE_STATES)[number];

/** A requested migration waiting for its turn, or what became of it (0011). */
export interface MigrationQueueTable {
  id: string;
  vm_id: string;
  kind: MigrationKind;
  source_host_id: string;
  dest_host_id: string | null;
  /** The destination the request named (null: placement chooses when it starts). */
  requested_to: string | null;
  priority: number;
  policy: JsonText;
  state: MigrationQueueState;
  reason: string | null;
  prediction: JsonText | null;
  /** Who asked: `api`, or `maintenance:<host id>`. */
  origin: string | null;
  queued_at: IsoTime;
  ended_at: IsoTime | null;
  /** 1: the admin forced an explicit destination past the VM's requirements (0022). */
  forced: number;
}

export interface DatastoresTable {
  id: string;
  name: string;
  kind: DatastoreKind;
  host_id: string | null;
  path: string;
  created_at: IsoTime;
  /** The cluster whose hosts reach it (0028); null: every cluster. */
  cluster: string | null;
  /** Its size as an admin gave it (0034); null: not known (a local one's is its host's disk). */
  capacity_mib: number | null;
}

export interface ImagesTable {
  id: string;
  name: string;
  owner_id: string;
  format: ImageFormat;
  size_bytes: number;
  virtual_size_bytes: number;
  sha256: string;
  path: string;
  state: ImageState;
  created_at: IsoTime;
  /** Migration 0036: the least memory a VM booting from it is given. */
  min_memory_mib: number;
}

export interface TemplatesTable {
  id: string;
  name: string;
  owner_id: string;
  vcpus: number;
  memory_mib: number;
  disks: JsonText;
  nics: JsonText;
  context: JsonText;
  requirements: string | null;
  created_at: IsoTime;
  /** The cluster its VMs are placed in (0028); null: any. */
  cluster: string | null;
}

export interface VmsTable {
  id: string;
  name: string;
  owner_id: string;
  template_id: string | null;
  state: VmState;
  state_reason: string | null;
  host_id: string | null;
  spec: JsonText;
  operation: JsonText | null;
  reserved_cpus: number;
  reserved_memory_mib: number;
  reserved_disk_mib: number;
  version: number;
  created_at: IsoTime;
  updated_at: IsoTime;
  /** What the VM counts against its owner's quotas (0008), set at admission. */
  charged_vcpus: number;
  charged_memory_mib: number;
  charged_disk_mib: number;
}

export interface VmHistoryTable {
  id: Generated<number>;
  vm_id: string;
  from_state: VmState | null;
  to_state: VmState;
  action: string;
  reason: string | null;
  at: IsoTime;
}

export interface NetworksTable {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  dns: JsonText;
  vlan: number | null;
  created_at: IsoTime;
  /** The host bridge the network's TAPs join. */
  bridge: string;
  /** The cluster whose hosts carry it (0028); null: every cluster. */
  cluster: string | null;
}

export interface LeasesTable {
  network_id: string;
  address: string;
  /** Offset of the address in its network, for "lowest free" ordering (text addresses do not sort numerically). */
  ordinal: number;
  mac: string;
  vm_id: string | null;
  state: LeaseState;
  updated_at: IsoTime;
}

export interface MigrationsTable {
  id: string;
  vm_id: string;
  kind: MigrationKind;
  source_host_id: string;
  dest_host_id: string;
  stage: string;
  state: MigrationState;
  journal: JsonText;
  stats: JsonText;
  reason: string | null;
  started_at: IsoTime;
  finished_at: IsoTime | null;
  /** Capacity held on the destination until the commit hands it to the VM or the end frees it. */
  reserved_cpus: number;
  reserved_memory_mib: number;
  reserved_disk_mib: number;
  /** The request's migration policy, as given (JSON). */
  policy: JsonText;
}

export interface EventsTable {
  seq: Generated<number>;
  at: IsoTime;
  kind: string;
  resource: string;
  resource_id: string;
  data: JsonText;
}

/** A data disk apart from any VM (see migrations/0003-volumes.ts). */
export interface VolumesTable {
  id: string;
  name: string;
  owner_id: string;
  size_mib: number;
  /** The host its file was made on (at its first attach); null until then. */
  host_id: string | null;
  vm_id: string | null;
  /** Its place among its VM's volumes, 0-7; null when detached. */
  slot: number | null;
  created_at: IsoTime;
  /** The cluster (EC2 availability zone) it lives in (0034): only VMs on that cluster's hosts attach it; null: none yet (its first attach's host's). */
  cluster: string | null;
}

export interface Database {
  users: UsersTable;
  hosts: HostsTable;
  clusters: ClustersTable;
  datastores: DatastoresTable;
  images: ImagesTable;
  templates: TemplatesTable;
  vms: VmsTable;
  vm_history: VmHistoryTable;
  networks: NetworksTable;
  leases: LeasesTable;
  migrations: MigrationsTable;
  events: EventsTable;
  volumes: VolumesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  shares: SharesTable;
  api_tokens: ApiTokensTable;
  user_quotas: QuotasTable & { user_id: string };
  group_quotas: QuotasTable & { group_id: string };
  usage_intervals: UsageIntervalsTable;
  vm_ha: VmHaTable;
  host_fencing: HostFencingTable;
  ha_restarts: HaRestartsTable;
  capacity_leases: CapacityLeasesTable;
  capacity_lease_vms: CapacityLeaseVmsTable;
  capacity_lease_events: CapacityLeaseEventsTable;
  migration_queue: MigrationQueueTable;
  access_keys: AccessKeysTable;
  s3_buckets: S3BucketsTable;
  s3_objects: S3ObjectsTable;
  s3_uploads: S3UploadsTable;
  s3_parts: S3PartsTable;
  clouds: CloudsTable;
  cloud_vms: CloudVmsTable;
  cloud_migrations: CloudMigrationsTable;
}

export interface GroupsTable {
  id: string;
  name: string;
  created_at: IsoTime;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
  /** 1 when the member is the group's admin, else 0. */
  admin: number;
  created_at: IsoTime;
}

export const SHARE_KINDS = ['image', 'template', 'network'] as const;
export type ShareKind = (typeof SHARE_KINDS)[number];

export interface SharesTable {
  resource_kind: ShareKind;
  resource_id: string;
  group_id: string;
  created_at: IsoTime;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** sha256 of the token, hex; the token itself is never stored. */
  token_hash: string;
  created_at: IsoTime;
}

/** Quota limits of a user or group (0008); null: unlimited. Sizes in MiB. */
export interface QuotasTable {
  vms: number | null;
  vcpus: number | null;
  memory_mib: number | null;
  disk_mib: number | null;
  volumes: number | null;
  images: number | null;
  leases: number | null;
  updated_at: IsoTime;
}

/** A VM in one state with fixed amounts over a stretch of time (migration 0009): the showback's records. */
export interface UsageIntervalsTable {
  id: Generated<number>;
  vm_id: string;
  vm_name: string;
  owner_id: string;
  /** The group the stretch is charged to: the owner's oldest membership when it opened; null: none. */
  group_id: string | null;
  state: VmState;
  vcpus: number;
  memory_mib: number;
  disk_mib: number;
  started_at: IsoTime;
  /** Null while open: at most one open row per VM. */
  ended_at: IsoTime | null;
}


export type Dialect = 'sqlite' | 'postgres';
