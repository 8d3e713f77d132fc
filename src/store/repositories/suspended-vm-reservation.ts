import { appendEvent, inTransaction, type StoreContext } from '../store-context.js';
import { CapacityError, NotFoundError, StaleStateError, type Resources } from '../store-errors.js';
import { fitsFreeCapacity, type CapacityCheck } from './capacity-check.js';
import { toHost } from './hosts-repository.js';
import { adjustHostReservation } from './adjust-host-reservation.js';

/**
 * A suspended VM of a preempted lease holds no capacity: its memory is a file
 * on its host, and the reservation that made it wait would keep the advance
 * reservation that preempted it from being placed there. These two move the
 * reservation off and back while the VM stays bound to its host (the host
 * that has its files), each in one transaction with a `vm.released` /
 * `vm.reserved` event; each is a no-op when already done (a restarted
 * controller repeats the step).
 */
export async function releaseSuspendedReservation(ctx: StoreContext, vmId: string): Promise<boolean> {
  return inTransaction(ctx, async (trx) => {
    const vm = await trx.selectFrom('vms').selectAll().where('id', '=', vmId).$if(ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
    if (!vm) throw new NotFoundError('vm', vmId);
    if (vm.state !== 'suspended') throw new StaleStateError('vm', vmId, vm.state, ['suspended'], 'release-suspended');
    const held = { cpus: vm.reserved_cpus, memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
    if (vm.host_id === null || (held.cpus === 0 && held.memoryMib === 0 && held.diskMib === 0)) return false;
    await adjustHostReservation(trx, vm.host_id, held, '-');
    await trx.updateTable('vms').set({ reserved_cpus: 0, reserved_memory_mib: 0, reserved_disk_mib: 0, version: vm.version + 1, updated_at: ctx.now() }).where('id', '=', vmId).execute();
    await appendEvent(ctx, trx, { kind: 'vm.released', resource: 'vm', resourceId: vmId, data: { hostId: vm.host_id, ...held, reason: 'suspended by its lease', version: vm.version + 1 } });
    return true;
  });
}

/** Reserves `demand` again on the host of a suspended VM that holds nothing; CapacityError (nothing changed) when it no longer fits. */
export async function reserveSuspended(ctx: StoreContext, vmId: string, demand: Resources, check: CapacityCheck = fitsFreeCapacity): Promise<boolean> {
  return inTransaction(ctx, async (trx) => {
    const vm = await trx.selectFrom('vms').selectAll().where('id', '=', vmId).$if(ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
    if (!vm) throw new NotFoundError('vm', vmId);
    if (vm.state !== 'suspended' || vm.host_id === null) throw new StaleStateError('vm', vmId, vm.state, ['suspended'], 'reserve-suspended');
    if (vm.reserved_cpus !== 0 || Number(vm.reserved_memory_mib) !== 0 || Number(vm.reserved_disk_mib) !== 0) return false;
    const hostRow = await trx.selectFrom('hosts').selectAll().where('id', '=', vm.host_id).$if(ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
    if (!hostRow) throw new NotFoundError('host', vm.host_id);
    const host = toHost(hostRow);
    const verdict = check(host, demand);
    if (verdict !== true) throw new CapacityError(host.id, demand, host.free, verdict, host.name);
    await adjustHostReservation(trx, host.id, demand, '+');
    await trx.updateTable('vms').set({ reserved_cpus: demand.cpus, reserved_memory_mib: demand.memoryMib, reserved_disk_mib: demand.diskMib, version: vm.version + 1, updated_at: ctx.now() }).where('id', '=', vmId).execute();
    await appendEvent(ctx, trx, { kind: 'vm.reserved', resource: 'vm', resourceId: vmId, data: { hostId: host.id, ...demand, reason: 'resumed by its lease', version: vm.version + 1 } });
    return true;
  });
}
