import type { Transaction } from 'kysely';
import type { Database, VmState } from '../schema.js';
import { appendEvent, type JsonObject, type StoreContext } from '../store-context.js';
import { moveUsage } from './usage-repository.js';

/** A VM's state change written beside it: its history row, its usage interval moved, its `vm.created`/`vm.state` event. */
export async function recordVmTransition(
  ctx: StoreContext,
  trx: Transaction<Database>,
  t: { readonly vmId: string; readonly from: VmState | null; readonly to: VmState; readonly action: string; readonly reason: string | null; readonly data: JsonObject },
): Promise<void> {
  const at = ctx.now();
  await trx.insertInto('vm_history').values({ vm_id: t.vmId, from_state: t.from, to_state: t.to, action: t.action, reason: t.reason, at }).execute();
  await moveUsage(trx, t.vmId, t.to, at);
  await appendEvent(ctx, trx, { kind: t.from === null ? 'vm.created' : 'vm.state', resource: 'vm', resourceId: t.vmId, data: { from: t.from, to: t.to, action: t.action, reason: t.reason, ...t.data } });
}
