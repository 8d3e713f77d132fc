import type { Generated } from 'kysely';
import type { IsoTime } from './schema.js';

/* The capacity lease rows (migration 0010), apart from schema.ts so that each feature's row types stay together. */

/** A capacity lease (migration 0010; not `leases`, the network address leases): request, state, plan, journaled step. */
export interface CapacityLeasesTable {
  id: string;
  owner_id: string;
  kind: 'ar' | 'be' | 'immediate';
  state: string;
  reason: string | null;
  /** Arrival order among leases (first come, first served on equal submit times). */
  seq: number;
  /** Times in epoch seconds, as the scheduler counts them. */
  submit_s: number;
  start_s: number | null;
  duration_s: number;
  vm_count: number;
  vcpus: number;
  memory_mib: number;
  template_id: string;
  preemptible: number;
  /** Running time still owed (less than the duration after a suspension). */
  remaining_s: number;
  /** JSON: {placements, segments, cursor, suspendedOn} — the scheduler's plan as of the last change. */
  plan: string;
  /** JSON: the enactment step decided and not yet confirmed done; null when none. */
  pending_step: string | null;
  created_at: IsoTime;
  updated_at: IsoTime;
}

export interface CapacityLeaseVmsTable {
  lease_id: string;
  idx: number;
  vm_id: string;
  host_id: string;
}

export interface CapacityLeaseEventsTable {
  id: Generated<number>;
  lease_id: string;
  at: IsoTime;
  kind: string;
  /** JSON object. */
  detail: string;
}
