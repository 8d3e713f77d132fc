import type { SuspendStorage } from '../../core/leases/lease-rates.js';
import type { Store } from '../../store/open-store.js';
import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';
import { NotFoundError } from '../../store/store-errors.js';

/** The datastore a VM spec or a template disk names (`local` unless it says `shared`). */
const datastoreOf = (doc: unknown): string | undefined => {
  const ds = (doc as { datastore?: unknown } | undefined)?.datastore;
  return typeof ds === 'string' ? ds : doc === undefined ? undefined : 'local';
};

/**
 * Where a lease's saved memory will be while it is suspended. The agent writes
 * a VM's memory beside its disk (`VmRecordStore.statePath`): on the shared
 * datastore for a disk there, which every host reads, else in the host's own
 * directory. So: `shared` when every VM of the lease has its disk on the
 * shared datastore, `local` when any has not; before the lease has VMs, what
 * its template's disk says (its VMs are made from it). Undefined when neither
 * is known (a template since removed): the scheduler then takes the
 * configured `suspendTo`.
 */
export async function leaseSuspendStorage(store: Store, lease: Pick<CapacityLease, 'id' | 'templateId'>): Promise<SuspendStorage | undefined> {
  const found: string[] = [];
  for (const v of await store.capacityLeases.vms(lease.id)) {
    const vm = await store.vms.get(v.vmId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    const spec = vm?.spec as { agent?: { disk?: unknown } } | undefined;
    const ds = datastoreOf(spec?.agent?.disk);
    if (ds !== undefined) found.push(ds);
  }
  if (found.length === 0) {
    const t = await store.templates.get(lease.templateId).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    const ds = t === undefined ? undefined : datastoreOf(t.disks[0] ?? {});
    if (ds !== undefined) found.push(ds);
  }
  if (found.length === 0) return undefined;
  return found.every((d) => d === 'shared') ? 'shared' : 'local';
}
