import { samePlacements, type Enactment, type Placement } from '../../core/leases/enactment.js';
import type { LeaseRequest } from '../../core/leases/lease.js';

/** A step the scheduler began, in its own host numbers: the service journals it, then carries it out. */
export interface CollectedStep {
  readonly leaseId: string;
  readonly kind: 'prepare' | 'migrate' | 'resume' | 'suspend' | 'shutdown' | 'requeue' | 'cancel';
  readonly placements: readonly Placement[];
  readonly from?: readonly Placement[] | undefined;
  readonly at: number;
}

/**
 * The controller's Enactment: the scheduler calls it synchronously while it
 * advances, so it only collects the steps; the lease service writes each to
 * the store (the journal) before it starts the side effect. `run` needs
 * nothing (the VMs were started by prepare or resume) and `done` neither
 * (shutdown terminated them).
 */
export class StepCollector implements Enactment {
  #steps: CollectedStep[] = [];

  take(): CollectedStep[] {
    const out = this.#steps;
    this.#steps = [];
    return out;
  }

  prepare(lease: LeaseRequest, placements: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'prepare', placements, at });
  }

  migrate(lease: LeaseRequest, from: readonly Placement[], to: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'migrate', placements: to, from, at });
  }

  /** Where the state was saved goes with it when that is not where it resumes: shared storage, the VMs are handed over first. */
  resume(lease: LeaseRequest, placements: readonly Placement[], at: number, _until: number, savedOn: readonly Placement[]): void {
    this.#steps.push({ leaseId: lease.id, kind: 'resume', placements, ...(samePlacements(savedOn, placements) ? {} : { from: savedOn }), at });
  }

  run(): void {}

  suspend(lease: LeaseRequest, placements: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'suspend', placements, at });
  }

  shutdown(lease: LeaseRequest, placements: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'shutdown', placements, at });
  }

  /** An AR took the hosts of a lease that could not be suspended: its VMs end, and it waits to start over. */
  requeue(lease: LeaseRequest, placements: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'requeue', placements, at });
  }

  /** The same, cancelled (policy unsuspendable cancel): its VMs end. */
  cancel(lease: LeaseRequest, placements: readonly Placement[], at: number): void {
    this.#steps.push({ leaseId: lease.id, kind: 'cancel', placements, at });
  }

  done(): void {}
}
