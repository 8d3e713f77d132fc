/**
 * The life of a lease, as a table the controller and the simulator share:
 * every state names the states it may go to. `rejected`, `done`,
 * `cancelled` and `failed` are final.
 */
export const LEASE_STATES = ['pending', 'accepted', 'rejected', 'scheduled', 'preparing', 'active', 'suspending', 'suspended', 'resuming', 'done', 'cancelled', 'failed'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

const NEXT: Readonly<Record<LeaseState, readonly LeaseState[]>> = {
  pending: ['accepted', 'rejected', 'cancelled'],
  // Accepted: admitted, waiting in the queue (best effort) or for its plan.
  accepted: ['scheduled', 'cancelled', 'failed'],
  // Scheduled: hosts and times are booked; the plan may still be withdrawn (a preempting AR) and the lease requeued
  // (back to accepted, or to suspended when it was a resume).
  scheduled: ['preparing', 'resuming', 'accepted', 'suspended', 'cancelled', 'failed'],
  // Preparing covers image transfer and boot; a lease cut before it runs goes back to the queue.
  preparing: ['active', 'accepted', 'cancelled', 'failed'],
  // Back to accepted: an AR needed its hosts and it could not be suspended (policy unsuspendable requeue): it starts over.
  active: ['suspending', 'done', 'accepted', 'cancelled', 'failed'],
  suspending: ['suspended', 'failed'],
  // A suspended lease waits in the queue with its memory saved; it resumes where it was or after moving.
  suspended: ['scheduled', 'resuming', 'cancelled', 'failed'],
  resuming: ['active', 'failed'],
  rejected: [],
  done: [],
  cancelled: [],
  failed: [],
};

export function isFinalLeaseState(s: LeaseState): boolean {
  return NEXT[s].length === 0;
}

export function canTransitionLease(from: LeaseState, to: LeaseState): boolean {
  return NEXT[from].includes(to);
}

/** The states `from` may go to. */
export function nextLeaseStates(from: LeaseState): readonly LeaseState[] {
  return NEXT[from];
}
