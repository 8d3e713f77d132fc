import { z } from 'zod';
import { inTransaction, toJson, type StoreContext } from '../store-context.js';
import { StaleStateError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { lockVmRow } from './lock-vm-row.js';
import { adjustHostReservation } from './adjust-host-reservation.js';
import { recordVmTransition } from './record-vm-transition.js';
import { toVm, type Vm } from './vm-row.js';

const placeAgainSchema = z.object({
  expectedVersion: z.number().int().nonnegative(),
  /** The VM's spec from now on (what the next placement must know: the host it avoids). */
  spec: fields.jsonObject,
  reason: z.string().min(1).max(1024),
  action: z.string().min(1).max(64).default('schedule'),
});
export type PlaceAgainInput = z.input<typeof placeAgainSchema>;

/**
 * A VM in `prolog` back to `pending` to be placed again, in one transaction:
 * its reservation given back to its host, unbound, its spec replaced, the
 * reason kept as its state reason and in its history and `vm.state` event
 * (with the host it left and what was released). The operation in flight is
 * kept, so the drive places it next. StaleStateError, with nothing written,
 * unless the VM is in `prolog` on a host at `expectedVersion`.
 */
export async function placeVmAgain(ctx: StoreContext, vmId: string, input: PlaceAgainInput): Promise<Vm> {
  const p = validateInput('place again', placeAgainSchema, input);
  return inTransaction(ctx, async (trx) => {
    const vm = await lockVmRow(ctx, trx, vmId);
    if (vm.state !== 'prolog' || vm.host_id === null || vm.version !== p.expectedVersion) throw new StaleStateError('vm', vmId, vm.state, ['prolog'], p.action);
    const held = { cpus: vm.reserved_cpus, memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
    await adjustHostReservation(trx, vm.host_id, held, '-');
    const row = await trx
      .updateTable('vms')
      .set({
        state: 'pending', state_reason: p.reason, host_id: null, spec: toJson(p.spec),
        reserved_cpus: 0, reserved_memory_mib: 0, reserved_disk_mib: 0, version: vm.version + 1, updated_at: ctx.now(),
      })
      .where('id', '=', vmId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordVmTransition(ctx, trx, { vmId, from: vm.state, to: 'pending', action: p.action, reason: p.reason, data: { version: row.version, releasedHostId: vm.host_id, ...held } });
    return toVm(row);
  });
}
