import type { Selectable, Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, UsageIntervalsTable, VmState } from '../schema.js';
import { fromJson, type StoreContext } from '../store-context.js';
import { validateInput } from '../validate-input.js';
import { sameUsageAmounts, usageAmountsOf, type UsageAmounts } from '../../core/usage/usage-amounts.js';

/** A usage record: the VM in `state` with these amounts from `startedAt` until `endedAt` (null: open). */
export interface UsageRecord extends UsageAmounts {
  readonly id: number;
  readonly vmId: string;
  readonly vmName: string;
  readonly ownerId: string;
  readonly groupId: string | null;
  readonly state: VmState;
  readonly startedAt: string;
  readonly endedAt: string | null;
}

const iso = z.iso.datetime();
const listSchema = z.object({ from: iso, to: iso, ownerId: z.string().min(1).max(64).optional(), groupId: z.string().min(1).max(64).optional() });

function toRecord(r: Selectable<UsageIntervalsTable>): UsageRecord {
  return {
    id: Number(r.id), vmId: r.vm_id, vmName: r.vm_name, ownerId: r.owner_id, groupId: r.group_id, state: r.state,
    vcpus: r.vcpus, memoryMib: Number(r.memory_mib), diskMib: Number(r.disk_mib), startedAt: r.started_at, endedAt: r.ended_at,
  };
}

/**
 * The showback's records (migration 0009). They are written only by the
 * VMs repository, inside the transaction of the change that causes them
 * (`moveUsage`, `reviseUsage`); this repository reads them.
 */
export class UsageRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** The records that overlap [from, to) (ISO times), of one owner or one group when asked, oldest first. */
  async list(filter: { from: string; to: string; ownerId?: string | undefined; groupId?: string | undefined }): Promise<UsageRecord[]> {
    const f = validateInput('usage filter', listSchema, filter);
    const rows = await this.ctx.db
      .selectFrom('usage_intervals')
      .selectAll()
      .where('started_at', '<', f.to)
      .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', f.from)]))
      .$if(f.ownerId !== undefined, (q) => q.where('owner_id', '=', f.ownerId!))
      .$if(f.groupId !== undefined, (q) => q.where('group_id', '=', f.groupId!))
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  /** One VM's records, oldest first (they outlive a purge of the VM). */
  async ofVm(vmId: string): Promise<UsageRecord[]> {
    const rows = await this.ctx.db.selectFrom('usage_intervals').selectAll().where('vm_id', '=', vmId).orderBy('id').execute();
    return rows.map(toRecord);
  }
}

/**
 * Inside a VM's state change: closes its open record at `at` and, unless the
 * VM is now terminated, opens one in `state` with the amounts of its spec as
 * the transaction left it, charged to the owner's group (the oldest
 * membership, so that the choice is stable) — same `at` as its vm_history row.
 */
export async function moveUsage(trx: Transaction<Database>, vmId: string, state: VmState, at: string): Promise<void> {
  await trx.updateTable('usage_intervals').set({ ended_at: at }).where('vm_id', '=', vmId).where('ended_at', 'is', null).execute();
  if (state === 'terminated') return;
  await openUsage(trx, vmId, state, at);
}

/**
 * Inside a change of a VM's spec (a volume attached, a disk moved): when its
 * amounts changed, the open record is closed at `at` and another opened in
 * the same state with the new amounts. Nothing is written otherwise.
 */
export async function reviseUsage(trx: Transaction<Database>, vmId: string, at: string): Promise<void> {
  const open = await trx.selectFrom('usage_intervals').selectAll().where('vm_id', '=', vmId).where('ended_at', 'is', null).executeTakeFirst();
  if (!open) return;
  const vm = await trx.selectFrom('vms').select('spec').where('id', '=', vmId).executeTakeFirstOrThrow();
  if (sameUsageAmounts(toRecord(open), usageAmountsOf(fromJson<unknown>(vm.spec, {})))) return;
  await trx.updateTable('usage_intervals').set({ ended_at: at }).where('id', '=', open.id).execute();
  await openUsage(trx, vmId, open.state, at);
}

async function openUsage(trx: Transaction<Database>, vmId: string, state: VmState, at: string): Promise<void> {
  const vm = await trx.selectFrom('vms').select(['name', 'owner_id', 'spec']).where('id', '=', vmId).executeTakeFirstOrThrow();
  const group = await trx.selectFrom('group_members').select('group_id').where('user_id', '=', vm.owner_id).orderBy('created_at').orderBy('group_id').executeTakeFirst();
  const a = usageAmountsOf(fromJson<unknown>(vm.spec, {}));
  await trx.insertInto('usage_intervals').values({
    vm_id: vmId, vm_name: vm.name, owner_id: vm.owner_id, group_id: group?.group_id ?? null, state,
    vcpus: a.vcpus, memory_mib: a.memoryMib, disk_mib: a.diskMib, started_at: at, ended_at: null,
  }).execute();
}
