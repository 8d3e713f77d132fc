import { z } from 'zod';
import { VM_STATES, type VmState } from '../schema.js';
import { appendEvent, inTransaction, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { ExhaustedError, StaleStateError } from '../store-errors.js';
import { sleep } from '../../util/deadline.js';
import { LOCKED_RETRIES, releaseLeaseOf, takeFreeLease, takeLeaseAt, type Lease } from './leases-repository.js';
import { fields, validateInput } from '../validate-input.js';
import { LeasesLocked } from './leases-locked.js';
import { lockVmRow } from './lock-vm-row.js';
import { reviseUsage } from './usage-repository.js';
import { toVm, type Vm } from './vm-row.js';

const stateSchema = z.enum(VM_STATES);

/** A change of a VM's spec together with one of its leases (a NIC attached or detached). */
export interface ReviseSpecInput {
  /** Named in a refusal and in the `vm.spec` event. */
  readonly action: string;
  /** The states the change is allowed from (StaleStateError otherwise); any state when absent. */
  readonly from?: readonly VmState[] | undefined;
  /** An address to lease to the VM: `address` of the network, or its lowest free one. */
  readonly take?: { readonly networkId: string; readonly address?: string | undefined } | undefined;
  /** An address of the VM's to free; nothing happens when the VM does not hold it. */
  readonly release?: { readonly networkId: string; readonly address: string } | undefined;
  /** The VM's new spec, from the VM as it is now (read under lock) and the lease taken; kept when absent. Throwing rolls back everything. */
  readonly spec?: ((vm: Vm, lease: Lease | undefined) => JsonObject) | undefined;
}

const reviseSchema = z.object({ action: z.string().min(1).max(64), from: z.array(stateSchema).min(1).optional() });
const specSchema = z.object({ spec: fields.jsonObject });

/**
 * Changes the VM's spec and one lease in one transaction, e.g. a NIC and
 * its address: the VM row is read under lock and its state checked against
 * `from`, the lease is taken (a specific free address, or the network's
 * lowest free one) or freed, the new spec written with version + 1, and a
 * `vm.spec` event appended. Any refusal — the state (StaleStateError), an
 * address that is not the network's (NotFoundError) or not free
 * (ConflictError), an exhausted network (ExhaustedError), `spec` throwing —
 * writes nothing. A call that changes nothing (a release of an address the
 * VM does not hold, no spec) writes nothing either.
 */
export async function reviseVmSpec(ctx: StoreContext, id: string, input: ReviseSpecInput): Promise<{ vm: Vm; lease: Lease | undefined; released: boolean }> {
  const v = validateInput('spec revision', reviseSchema, { action: input.action, ...(input.from !== undefined ? { from: [...input.from] } : {}) });
  for (let attempt = 0; ; attempt++) {
    try {
      return await inTransaction(ctx, async (trx) => {
        const cur = await lockVmRow(ctx, trx, id);
        if (v.from !== undefined && !v.from.includes(cur.state)) throw new StaleStateError('vm', id, cur.state, v.from, v.action);
        let lease: Lease | undefined;
        if (input.take?.address !== undefined) {
          lease = await takeLeaseAt(ctx, trx, input.take.networkId, input.take.address, id);
        } else if (input.take !== undefined) {
          const r = await takeFreeLease(ctx, trx, input.take.networkId, id);
          if (r === 0) throw new ExhaustedError('network', input.take.networkId, 'free address');
          if (typeof r === 'number') throw new LeasesLocked(input.take.networkId);
          lease = r;
        }
        const released = input.release !== undefined && (await releaseLeaseOf(ctx, trx, id, input.release.networkId, input.release.address));
        const spec = input.spec === undefined ? undefined : validateInput('vm', specSchema, { spec: input.spec(toVm(cur), lease) }).spec;
        if (spec === undefined && lease === undefined && !released) return { vm: toVm(cur), lease, released };
        const row = await trx
          .updateTable('vms')
          .set({ ...(spec !== undefined ? { spec: toJson(spec) } : {}), version: cur.version + 1, updated_at: ctx.now() })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await reviseUsage(trx, id, row.updated_at);
        await appendEvent(ctx, trx, {
          kind: 'vm.spec',
          resource: 'vm',
          resourceId: id,
          data: {
            action: v.action,
            version: row.version,
            ...(lease !== undefined ? { leased: { networkId: lease.networkId, address: lease.address } } : {}),
            ...(released && input.release !== undefined ? { released: { networkId: input.release.networkId, address: input.release.address } } : {}),
          },
        });
        return { vm: toVm(row), lease, released };
      });
    } catch (err) {
      if (!(err instanceof LeasesLocked)) throw err;
      if (attempt >= LOCKED_RETRIES) throw new ExhaustedError('network', err.message, 'unlocked free address');
      await sleep(5 + attempt);
    }
  }
}
