import type { Transaction } from 'kysely';
import type { Database, VmsTable } from '../schema.js';
import type { StoreContext } from '../store-context.js';
import { NotFoundError } from '../store-errors.js';

/** Reads the VM row, locked for the rest of the transaction on PostgreSQL (SQLite's write transactions are serial already). */
export async function lockVmRow(ctx: StoreContext, trx: Transaction<Database>, id: string): Promise<VmsTable> {
  const r = await trx.selectFrom('vms').selectAll().where('id', '=', id).$if(ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
  if (!r) throw new NotFoundError('vm', id);
  return r;
}
