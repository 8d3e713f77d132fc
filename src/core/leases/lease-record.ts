import type { Placement, Segment } from './enactment.js';
import type { LeaseRequest } from './lease.js';
import type { SuspendStorage } from './lease-rates.js';
import type { LeaseState } from './lease-state.js';
import type { SlotTable } from './slot-table.js';

/** The scheduler's view of one lease: its request, its state and its current plan. */
export interface LeaseRecord {
  readonly req: LeaseRequest;
  state: LeaseState;
  /** Why it was rejected or failed. */
  reason?: string;
  placements: Placement[];
  /** The current plan; empty while queued. */
  segments: Segment[];
  /** Index of the next segment to begin. */
  cursor: number;
  /** Requested running time still owed (less than the duration after a suspension). */
  remainingS: number;
  /** Where its saved memory is, while suspended. */
  suspendedOn?: Placement[];
  /**
   * Where its saved memory lives: `shared` (a datastore every host reads — it resumes on any hosts with no move) or
   * `local`. The controller derives it from where the lease's VMs' disks are; absent, the rates' `suspendTo` (the
   * simulator's and the site's default).
   */
  suspendTo?: SuspendStorage;
  /** Arrival order, to keep the queue first-come-first-served among equal submit times. */
  readonly seq: number;
  firstStart?: number;
  end?: number;
  suspensions: number;
  migrations: number;
  /** Resumes on other hosts than it was suspended on with no move: its state read from shared storage there. */
  handoffs: number;
  /** Times an AR ended its run because it could not be suspended, and it started over (policy unsuspendable requeue). */
  requeues: number;
  /** Bumped whenever the plan changes, so stale timer entries are told apart. */
  version: number;
}

export const preemptibleBooking = (r: LeaseRecord): boolean => r.req.kind === 'be' && r.req.preemptible;

export function planStart(r: LeaseRecord): number {
  return r.segments[0]?.from ?? Infinity;
}

export function planEnd(r: LeaseRecord): number {
  return r.segments[r.segments.length - 1]?.to ?? -Infinity;
}

/** The time the next segment begins, or the plan's end once all have begun. */
export function nextBoundary(r: LeaseRecord): number {
  return r.cursor < r.segments.length ? r.segments[r.cursor]!.from : planEnd(r);
}

/** Books (or releases) the part [from, to) of a lease's plan on all its hosts. */
export function bookSpan(table: SlotTable, r: LeaseRecord, from: number, to: number, sign: 1 | -1): void {
  for (const p of r.placements) {
    const b = { host: p.host, from, to, vms: p.vms, shape: r.req.shape, preemptible: preemptibleBooking(r) };
    if (sign === 1) table.book(b);
    else table.release(b);
  }
}
