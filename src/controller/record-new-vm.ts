import { planCreate } from '../core/vm-actions.js';
import type { Store } from '../store/open-store.js';
import type { User } from '../store/repositories/users-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { ConflictError, ExhaustedError } from '../store/store-errors.js';
import type { AdmittedVm } from './catalog.js';
import type { VmOrchestrator } from './vm-orchestrator.js';
import { findOrUndefined } from '../store/find-or-undefined.js';

/**
 * Records an admitted VM for `owner` — its row and its NICs' leases in one
 * transaction, so an exhausted network leaves neither behind — and sets it
 * going (pending → … → running). Every way of making a VM (create, clone)
 * ends here. `id`: the creator's choice of id (a UUID), else a new one.
 */
export async function recordNewVm(deps: { readonly store: Store; readonly orchestrator: VmOrchestrator }, admitted: AdmittedVm, owner: User, id?: string): Promise<Vm> {
  await ensureVmNameFree(deps.store, owner, admitted.name);
  const plan = planCreate();
  const vm = await deps.store.vms
    .create(
      { ...(id !== undefined ? { id } : {}), name: admitted.name, ownerId: owner.id, templateId: admitted.templateId, spec: {}, operation: { action: plan.action, from: plan.from }, charge: admitted.charge },
      { networks: admitted.leaseNetworks, spec: (leases) => admitted.spec(leases) as unknown as JsonObject },
    )
    .catch(async (err: unknown) => {
      if (err instanceof ExhaustedError && err.resource === 'network') {
        const net = await findOrUndefined(deps.store.networks.get(err.id));
        throw new ExhaustedError('network', net?.name ?? err.id, `free address (all of ${net?.cidr ?? 'its range'} are leased or held)`);
      }
      throw err;
    });
  deps.orchestrator.kick(vm.id);
  return vm;
}

/** VMs are found by their owner's name for them (findVisibleVm): a second live VM of that name would make it ambiguous. */
export async function ensureVmNameFree(store: Store, owner: User, name: string, field = 'name'): Promise<void> {
  // Only this name's VMs: listing all of the owner's made every create cost as much as the owner had VMs.
  const mine = await store.vms.list({ ownerId: owner.id, name });
  if (mine.some((v) => v.name === name && v.state !== 'terminated')) throw new ConflictError('vm', field, name, 'is already used by another of your VMs');
}
