import type { LeaseRequest } from '../core/leases/lease.js';
import type { HostCapacity } from '../core/leases/slot-table.js';

/** A lease of a workload: the request, and how long its VMs really run (they may end before the reserved duration). */
export interface TraceLease extends LeaseRequest {
  readonly realDuration?: number;
}

/** A workload as read from a trace: its leases, and the site when the format describes one (LWF). */
export interface Workload {
  readonly leases: readonly TraceLease[];
  readonly hosts?: readonly HostCapacity[];
}
