import type { Selectable } from 'kysely';
import type { VmHistoryTable, VmState, VmsTable } from '../schema.js';
import { fromJson, type JsonObject } from '../store-context.js';
import type { Resources } from '../store-errors.js';

// A VM as the store hands it out, and how a row becomes one.

export interface Vm {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly templateId: string | null;
  readonly state: VmState;
  /** Why the VM is in its state: the pending reason, the phase that failed … */
  readonly stateReason: string | null;
  readonly hostId: string | null;
  readonly spec: JsonObject;
  /** The action in flight (`{action, from}`), null when the VM rests. */
  readonly operation: VmOperationRecord | null;
  /** Capacity reserved on `hostId` for this VM (all zero when it holds none). */
  readonly reserved: Resources;
  /** Bumped by every write: optimistic concurrency for callers that read, decide, then write. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface VmOperationRecord {
  readonly action: string;
  readonly from: VmState;
}

export interface VmHistoryEntry {
  readonly id: number;
  readonly vmId: string;
  readonly fromState: VmState | null;
  readonly toState: VmState;
  readonly action: string;
  readonly reason: string | null;
  readonly at: string;
}

export function toVm(r: VmsTable): Vm {
  // The spec (the largest column: disks, NICs, context, user data) is parsed when first read, not per row: lists of
  // thousands of VMs (the metrics round, the heartbeat's reconcile, the scheduler) mostly need the other fields,
  // and parsing every spec was the controller's largest self-time at 2,000 VMs (bench/scale's profile).
  let spec: JsonObject | undefined;
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    templateId: r.template_id,
    state: r.state,
    stateReason: r.state_reason,
    hostId: r.host_id,
    get spec(): JsonObject {
      return (spec ??= fromJson<JsonObject>(r.spec, {}));
    },
    operation: r.operation === null ? null : fromJson<VmOperationRecord | null>(r.operation, null),
    reserved: { cpus: r.reserved_cpus, memoryMib: Number(r.reserved_memory_mib), diskMib: Number(r.reserved_disk_mib) },
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toHistory(r: Selectable<VmHistoryTable>): VmHistoryEntry {
  return { id: Number(r.id), vmId: r.vm_id, fromState: r.from_state, toState: r.to_state, action: r.action, reason: r.reason, at: r.at };
}
