import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';

/**
 * The side effects a lease's plan needs, one VM at a time. Each is
 * idempotent — a restarted controller repeats the step it had journaled —
 * and returns once the VM is where the step leaves it. The controller's
 * implementation (orchestrator-lease-actions.ts) drives the VM orchestrator,
 * the suspend/resume of QEMU and the cold migrator; the service's unit tests
 * use a recording fake.
 */
export interface LeaseActions {
  /**
   * Makes the lease's VM number `idx` on `hostId` (or finds the one made
   * before) and returns its id as soon as it exists — recorded for the lease
   * before it is waited for, so that a lease that ends while it boots (a
   * failed or cut prepare, a shutdown) ends it too.
   */
  create(lease: CapacityLease, idx: number, hostId: string, signal: AbortSignal): Promise<string>;
  /** Waits until the VM `create` made runs. */
  started(vmId: string, signal: AbortSignal): Promise<void>;
  /** Saves the VM's memory on its host and gives its capacity back there. */
  suspend(vmId: string, signal: AbortSignal): Promise<void>;
  /** Moves a suspended VM's files (memory and disk) to `hostId`. */
  migrate(vmId: string, hostId: string, signal: AbortSignal): Promise<void>;
  /** Takes capacity on its host again and restores the VM from its saved memory. */
  resume(vmId: string, signal: AbortSignal): Promise<void>;
  /** Shuts the VM down and deletes it (terminated): the lease's end. */
  terminate(vmId: string, signal: AbortSignal): Promise<void>;
}
