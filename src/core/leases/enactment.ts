import type { LeaseRequest } from './lease.js';

/** Where a lease's VMs run: `vms` of them on `host`. */
export interface Placement {
  readonly host: number;
  readonly vms: number;
}

/** The steps of a plan, in the order they happen. */
export type SegmentKind = 'prepare' | 'migrate' | 'resume' | 'run' | 'suspend' | 'shutdown';

/** One step of a lease's plan over [from, to) on the lease's placements. */
export interface Segment {
  readonly kind: SegmentKind;
  readonly from: number;
  readonly to: number;
}

/**
 * What carries a plan out. The scheduler calls each method when the step
 * begins, with the end it predicts from the configured rates; the simulator's
 * implementation lets the virtual clock complete it, the controller's will
 * start QEMU, save, move and restore VMs and report when it is done.
 */
export interface Enactment {
  /** Image transfer (unless cached) and boot on `placements`, ending at `until`. */
  prepare(lease: LeaseRequest, placements: readonly Placement[], at: number, until: number): void;
  /** Moving suspended VMs from `from` to `to`. */
  migrate(lease: LeaseRequest, from: readonly Placement[], to: readonly Placement[], at: number, until: number): void;
  /**
   * Restores suspended VMs on `placements`; `savedOn`: where their state was saved. They differ without a `migrate`
   * step before only when the state is on shared storage: the VMs are handed to the new hosts, which read it there.
   */
  resume(lease: LeaseRequest, placements: readonly Placement[], at: number, until: number, savedOn: readonly Placement[]): void;
  /** The VMs run; the scheduler reserved up to `until`, a lease may end earlier (the controller or the simulator then calls `ended`). */
  run(lease: LeaseRequest, placements: readonly Placement[], at: number, until: number): void;
  suspend(lease: LeaseRequest, placements: readonly Placement[], at: number, until: number): void;
  shutdown(lease: LeaseRequest, placements: readonly Placement[], at: number, until: number): void;
  /** An AR needed the hosts of a lease that could not be suspended: its VMs on `placements` end now, and it waits in the queue to start over. */
  requeue(lease: LeaseRequest, placements: readonly Placement[], at: number, reason: string): void;
  /** The same, with the policy that cancels such a lease: its VMs end now and it is over (cancelled, with the reason). */
  cancel(lease: LeaseRequest, placements: readonly Placement[], at: number, reason: string): void;
  /** The lease is over (shut down and released). */
  done(lease: LeaseRequest, at: number): void;
}

/** Whether two placements put the same number of VMs on the same hosts (in any order). */
export function samePlacements(a: readonly Placement[], b: readonly Placement[]): boolean {
  const key = (ps: readonly Placement[]): string => ps.filter((p) => p.vms > 0).map((p) => `${p.host}:${p.vms}`).sort().join();
  return key(a) === key(b);
}
