import type { Store } from '../../store/open-store.js';
import type { PendingStep } from '../../store/repositories/capacity-leases-repository.js';
import type { Failpoints } from '../../util/failpoints.js';
import type { LeaseActions } from './lease-actions.js';
import { hostPerVm } from './lease-record-of.js';

/**
 * Carries out one journaled step of a lease on its VMs. Every part is
 * idempotent (a VM already suspended is left, one already on the target host
 * is not moved, the VMs made are found by their lease and number), so a
 * restarted controller runs the journaled step again from the start. The
 * failpoint `lease-<step>` fires after the journal and before any side
 * effect (and `lease-<step>.done`, in the service, after it and before the
 * journal is cleared): the e2e test kills the controller there.
 */
export async function runLeaseStep(deps: { readonly store: Store; readonly actions: LeaseActions; readonly failpoints?: Failpoints | undefined }, leaseId: string, step: PendingStep, signal: AbortSignal): Promise<void> {
  const { store, actions } = deps;
  await deps.failpoints?.hit(`lease-${step.kind}`);
  // A controller told to stop while the step waited must not begin its side effect: the journal hands the step to the next one.
  signal.throwIfAborted();
  const lease = await store.capacityLeases.get(leaseId);
  const vms = await store.capacityLeases.vms(leaseId);
  // The VMs of a run the lease gave up: ended (idempotent) and forgotten, before anything of a new run is made.
  const endRetired = async (): Promise<void> => {
    for (const v of await store.capacityLeases.retiredVms(leaseId)) {
      await actions.terminate(v.vmId, signal);
      await store.capacityLeases.dropVm(leaseId, v.idx);
    }
  };
  /** Each VM not on a host of `placements` to a slot there not taken; VMs already on one stay. */
  const moveTo = async (placements: PendingStep['placements']): Promise<void> => {
    const free = hostPerVm(placements);
    const stay = vms.filter((v) => {
      const i = free.indexOf(v.hostId);
      if (i < 0) return false;
      free.splice(i, 1);
      return true;
    });
    const move = vms.filter((v) => !stay.includes(v));
    await Promise.all(move.map(async (v, k) => {
      const to = free[k];
      if (to === undefined) return;
      await actions.migrate(v.vmId, to, signal);
      await store.capacityLeases.setVm({ ...v, hostId: to });
    }));
  };
  switch (step.kind) {
    case 'requeue':
      await endRetired();
      // A prepare of the ended run that was still making its VMs when the requeue was written records them after it: ended too
      // (the next run's VMs cannot be here yet — its prepare comes after this step, on this lease's chain or in the journal).
      for (const v of vms) {
        await actions.terminate(v.vmId, signal);
        await store.capacityLeases.dropVm(leaseId, v.idx);
      }
      return;
    case 'prepare': {
      // Also here: a requeue whose journal entry a later prepare replaced (the controller died between them) is finished first.
      await endRetired();
      await Promise.all(hostPerVm(step.placements).map(async (hostId, idx) => {
        const vmId = await actions.create(lease, idx, hostId, signal);
        // Recorded before it is waited for: a prepare that fails or is cut while the VM boots leaves it to the lease's
        // release, shutdown or cancel, which end the lease's recorded VMs (recorded only once running, it was left behind).
        await store.capacityLeases.setVm({ leaseId, idx, vmId, hostId });
        await actions.started(vmId, signal);
      }));
      return;
    }
    case 'suspend':
      await Promise.all(vms.map((v) => actions.suspend(v.vmId, signal)));
      return;
    case 'migrate':
      await moveTo(step.placements);
      return;
    case 'resume':
      // Planned on other hosts with no migrate step before it: the state is on shared storage, and each VM is first handed
      // to its new host (a cold migration that copies nothing: the disk and the saved memory are on the shared datastore).
      // In place, every VM is already on a host of the plan and nothing moves.
      await moveTo(step.placements);
      await Promise.all((await store.capacityLeases.vms(leaseId)).map((v) => actions.resume(v.vmId, signal)));
      return;
    case 'shutdown':
    case 'release':
    case 'cancel':
      await endRetired();
      await Promise.all(vms.map((v) => actions.terminate(v.vmId, signal)));
      return;
  }
}
