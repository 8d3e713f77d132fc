// The slices of the native API's views (src/contract/*-schemas.ts) the dashboard reads.
// Kept here rather than imported: web/ depends on the API's wire shape, not on the server's code.

export interface User { id: string; name: string; role: 'admin' | 'user'; sshKeys: string[] }
export interface Resources { cpus: number; memoryMiB: number; diskMiB: number }
export interface Host {
  id: string; name: string; state: string; cpuModel: string | null;
  total: Resources; reserved: Resources; usage: Record<string, unknown> | null;
  lastHeartbeatAt: string | null; vms: number;
  /** In maintenance (`/hosts/{id}/maintenance`): it takes no new VMs; null: in service. */
  maintenance: 'evacuating' | 'maintenance' | null;
  /** On standby since (the rebalancer's consolidation emptied it): it takes no VMs; null: it takes VMs. Absent from older APIs. */
  standbySince?: string | null;
  /** Why its health check fails (proactive HA moves its VMs away): it takes no VMs; null: healthy. Absent from older APIs. */
  degraded?: string | null;
  /** The cluster (availability zone) it belongs to. Absent from older APIs. */
  cluster?: string;
}
/** `GET /hosts/{id}/maintenance` (src/contract/host-schemas.ts): the evacuation, VM by VM. */
export interface HostMaintenance {
  host: string; hostId: string; state: 'none' | 'evacuating' | 'blocked' | 'maintenance';
  poweredOff: 'move' | 'leave' | null; since: string | null; by: string | null; vmsOnHost: number;
  vms: {
    vmId: string; name: string; action: 'live' | 'cold' | 'leave';
    status: 'queued' | 'moving' | 'moved' | 'left' | 'blocked' | 'failed';
    migrationId: string | null; to: string | null; reason: string | null;
  }[];
}
export interface Vm {
  id: string; name: string; owner: string; template: string | null; state: string; stateReason: string | null;
  host: string | null; vcpus: number; memoryMiB: number; allowedActions: string[]; createdAt: string; updatedAt: string;
  /** Its host's cluster; while it has no host, the one it asked for (null: any). Absent from older APIs. */
  cluster?: string | null;
}
export interface VmNic { index: number; network: string | null; address: string | null; mac: string }
export interface VmHistory { from: string | null; to: string; action: string; reason: string | null; at: string }
export interface VmDetail extends Vm { nics: VmNic[]; history: VmHistory[] }
export interface Template {
  id: string; name: string; owner: string; vcpus: number; memoryMiB: number; image: string; nics: { network?: string }[];
  /** The cluster its VMs are placed in (absent: any); its burst flag (a cloud's name or `any`). */
  cluster?: string; burst?: string;
}
/** `GET /zones` (src/contract/cluster-schemas.ts): a cluster as any user may know it. */
export interface Zone { name: string; hosts: number }
export interface Image { id: string; name: string; owner: string; format: string; sizeBytes: number; createdAt: string }
export interface Network {
  id: string; name: string; cidr: string; gateway: string | null; vlan: number | null;
  addresses: { total: number; free: number; leased: number; held: number };
}
export interface Lease { address: string; mac: string; state: string; vm: string | null }
export interface Volume { id: string; name: string; owner: string; sizeMiB: number; host: string | null; vm: string | null; vmName: string | null; state: string }
export interface Snapshot { name: string; createdAt: string }
export interface Migration {
  id: string; vm: string; vmId: string; kind: 'live' | 'cold'; source: string; destination: string; stage: string;
  state: 'running' | 'succeeded' | 'failed' | 'aborted'; reason: string | null; startedAt: string; finishedAt: string | null;
  stats: Record<string, unknown>; journal: { stage: string; at: string }[];
  /** The policy it runs under (normalised by the API: every field set). */
  policy?: Record<string, unknown>;
}
export interface NuboEvent { seq: number; at: string; kind: string; resource: string; resourceId: string; data: Record<string, unknown> }
/** A capacity lease (`/api/v1/leases`; src/contract/lease-schemas.ts) — not a network address lease. */
export interface LeaseSegment { kind: 'prepare' | 'migrate' | 'resume' | 'run' | 'suspend' | 'shutdown'; from: string; to: string }
export interface CapacityLease {
  id: string; owner: string; type: 'ar' | 'be' | 'immediate'; state: string; reason: string | null; preemptible: boolean;
  start: string | null; durationS: number; remainingS: number; count: number; vcpus: number; memoryMiB: number; template: string;
  plan: { placements: { host: string; vms: number }[]; segments: LeaseSegment[]; suspendedOn: { host: string; vms: number }[] | null };
  vms: { index: number; vm: string; host: string }[];
  pendingStep: string | null; createdAt: string; updatedAt: string;
}
export interface CapacityLeaseDetail extends CapacityLease { history: { at: string; kind: string; detail: Record<string, unknown> }[] }
