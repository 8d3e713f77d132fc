import { z } from 'zod';
import { appendEvent, fromJson, inTransaction, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { CapacityError, NotFoundError, StaleStateError } from '../store-errors.js';
import { validateInput } from '../validate-input.js';
import { fitsFreeCapacity, type CapacityCheck } from './capacity-check.js';
import { toHost } from './hosts-repository.js';
import { enforceQuota } from './quotas-repository.js';
import { reviseUsage } from './usage-repository.js';
import { toVm, type Vm } from './vm-row.js';
import { lockVmRow } from './lock-vm-row.js';

/** The sizes a VM may be given (the agent's spec admits the same). */
export const vmSizeSchema = z.strictObject({
  vcpus: z.number().int().min(1).max(64),
  memoryMiB: z.number().int().min(16).max(1024 * 1024),
});
export type VmSize = z.infer<typeof vmSizeSchema>;

/** The one state a VM is resized in: no QEMU holds its memory, and none was saved (a saved state has the old size). */
export const RESIZABLE_STATE = 'poweroff';

/**
 * A powered-off VM's vCPUs and memory, changed in one transaction: the row is
 * read under lock and must be `poweroff`; the growth is checked against the
 * owner's quotas and against its host's free room (`check`, the scheduler's
 * own rule) — the host keeps a powered-off VM's reservation, so the new size
 * is reserved here and the VM can always start again where its disks are;
 * then the spec (the agent's and the placement demand), the charge, the
 * reservation and the usage record change together, with a `vm.spec` event.
 * The agent learns the size when the VM is next started (the boot step hands
 * it over), so nothing outside the store happens here and a crash leaves the
 * resize either whole or not done. A resize to the size it has writes
 * nothing. Refusals (StaleStateError, QuotaExceededError, CapacityError,
 * ValidationError) write nothing.
 */
export async function resizeVm(ctx: StoreContext, vmId: string, size: VmSize, check: CapacityCheck = fitsFreeCapacity): Promise<{ vm: Vm; changed: boolean }> {
  const to = validateInput('vm size', vmSizeSchema, size);
  return inTransaction(ctx, async (trx) => {
    const cur = await lockVmRow(ctx, trx, vmId);
    if (cur.state !== RESIZABLE_STATE) throw new StaleStateError('vm', vmId, cur.state, [RESIZABLE_STATE], 'resize');
    const spec = fromJson<JsonObject>(cur.spec, {});
    const agent = (spec['agent'] ?? {}) as JsonObject;
    const demand = (spec['demand'] ?? {}) as JsonObject;
    const from = { vcpus: Number(agent['vcpus'] ?? demand['vcpus'] ?? 0), memoryMiB: Number(agent['memoryMiB'] ?? demand['memoryMiB'] ?? 0) };
    if (from.vcpus === to.vcpus && from.memoryMiB === to.memoryMiB) return { vm: toVm(cur), changed: false };
    const grow = { vcpus: Math.max(0, to.vcpus - from.vcpus), memoryMiB: Math.max(0, to.memoryMiB - from.memoryMiB) };
    await enforceQuota(ctx, trx, cur.owner_id, grow);
    const held = { cpus: cur.reserved_cpus, memoryMib: Number(cur.reserved_memory_mib) };
    const holds = cur.host_id !== null && (held.cpus > 0 || held.memoryMib > 0);
    const reserved = holds ? { cpus: to.vcpus, memoryMib: to.memoryMiB } : held;
    if (holds && cur.host_id !== null) {
      const hostRow = await trx.selectFrom('hosts').selectAll().where('id', '=', cur.host_id).$if(ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!hostRow) throw new NotFoundError('host', cur.host_id);
      const need = { cpus: Math.max(0, reserved.cpus - held.cpus), memoryMib: Math.max(0, reserved.memoryMib - held.memoryMib), diskMib: 0 };
      // Only growth needs room: a VM shrunk on a host in maintenance (or full) is fine.
      if (need.cpus > 0 || need.memoryMib > 0) {
        const host = toHost(hostRow);
        const verdict = check(host, need);
        if (verdict !== true) throw new CapacityError(host.id, need, host.free, verdict, host.name);
      }
      await trx.updateTable('hosts').set((eb) => ({
        reserved_cpus: eb('reserved_cpus', '+', reserved.cpus - held.cpus),
        reserved_memory_mib: eb('reserved_memory_mib', '+', reserved.memoryMib - held.memoryMib),
      })).where('id', '=', cur.host_id).execute();
    }
    const next: JsonObject = { ...spec, agent: { ...agent, ...to }, demand: { ...demand, vcpus: to.vcpus, memoryMiB: to.memoryMiB } };
    const row = await trx.updateTable('vms').set({
      spec: toJson(next),
      // The charge moves by the change: a VM admitted with no charge (a system one) is not charged by a resize either.
      charged_vcpus: Math.max(0, cur.charged_vcpus + to.vcpus - from.vcpus), charged_memory_mib: Math.max(0, Number(cur.charged_memory_mib) + to.memoryMiB - from.memoryMiB),
      reserved_cpus: reserved.cpus, reserved_memory_mib: reserved.memoryMib, version: cur.version + 1, updated_at: ctx.now(),
    }).where('id', '=', vmId).returningAll().executeTakeFirstOrThrow();
    await reviseUsage(trx, vmId, row.updated_at);
    await appendEvent(ctx, trx, { kind: 'vm.spec', resource: 'vm', resourceId: vmId, data: { action: 'resize', version: row.version, from, to } });
    return { vm: toVm(row), changed: true };
  });
}
