import type { Kysely } from 'kysely';
import type { Database, LeaseState, LeasesTable } from '../schema.js';
import { inTransaction, requireExists, type StoreContext } from '../store-context.js';
import { ConflictError, ExhaustedError, NotFoundError } from '../store-errors.js';
import { sleep } from '../../util/deadline.js';

export interface Lease {
  readonly networkId: string;
  readonly address: string;
  readonly mac: string;
  readonly vmId: string | null;
  readonly state: LeaseState;
  readonly updatedAt: string;
}

function toLease(r: LeasesTable): Lease {
  return { networkId: r.network_id, address: r.address, mac: r.mac, vmId: r.vm_id, state: r.state, updatedAt: r.updated_at };
}

/** How often allocate looks again when every free row was locked by concurrent allocations (PostgreSQL). */
export const LOCKED_RETRIES = 50;

export class LeasesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Leases the lowest free address of the network to the VM. One UPDATE
   * picks and takes the row, so concurrent allocations never share an
   * address: on PostgreSQL the pick is `FOR UPDATE SKIP LOCKED` (a racing
   * allocation takes the next row instead of waiting); SQLite serialises
   * writers. Throws ExhaustedError when no address is free.
   */
  async allocate(networkId: string, vmId: string): Promise<Lease> {
    for (let attempt = 0; ; attempt++) {
      const r = await inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'vms', vmId, 'vm');
        return takeFreeLease(this.ctx, trx, networkId, vmId);
      });
      if (typeof r === 'object') return r;
      if (r === 0) throw new ExhaustedError('network', networkId, 'free address');
      // Free rows exist but were all locked by allocations still in flight: look again once they settle.
      if (attempt >= LOCKED_RETRIES) throw new ExhaustedError('network', networkId, 'unlocked free address');
      await sleep(5 + attempt);
    }
  }

  /** How many addresses of the network are free, leased and held. */
  async counts(networkId: string): Promise<Record<LeaseState, number>> {
    const rows = await this.ctx.db
      .selectFrom('leases')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('network_id', '=', networkId)
      .groupBy('state')
      .execute();
    const out: Record<LeaseState, number> = { free: 0, leased: 0, held: 0 };
    for (const r of rows) out[r.state] = Number(r.n);
    return out;
  }

  async get(networkId: string, address: string): Promise<Lease> {
    const r = await this.ctx.db.selectFrom('leases').selectAll().where('network_id', '=', networkId).where('address', '=', address).executeTakeFirst();
    if (!r) throw new NotFoundError('lease', `${networkId}/${address}`);
    return toLease(r);
  }

  /** Frees every address leased to the VM; returns how many. Idempotent. */
  async release(vmId: string): Promise<number> {
    const r = await this.ctx.db
      .updateTable('leases')
      .set({ state: 'free', vm_id: null, updated_at: this.ctx.now() })
      .where('vm_id', '=', vmId)
      .where('state', '=', 'leased')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Takes a free address out of allocation (a router, a reserved host). ConflictError if it is not free. */
  async hold(networkId: string, address: string): Promise<Lease> {
    return this.move(networkId, address, 'free', 'held');
  }

  /** Returns a held address to the free pool. */
  async unhold(networkId: string, address: string): Promise<Lease> {
    return this.move(networkId, address, 'held', 'free');
  }

  private async move(networkId: string, address: string, from: LeaseState, to: LeaseState): Promise<Lease> {
    const row = await this.ctx.db
      .updateTable('leases')
      .set({ state: to, updated_at: this.ctx.now() })
      .where('network_id', '=', networkId)
      .where('address', '=', address)
      .where('state', '=', from)
      .returningAll()
      .executeTakeFirst();
    if (row) return toLease(row);
    const cur = await this.ctx.db
      .selectFrom('leases')
      .select('state')
      .where('network_id', '=', networkId)
      .where('address', '=', address)
      .executeTakeFirst();
    if (!cur) throw new NotFoundError('lease', `${networkId}/${address}`);
    throw new ConflictError('lease', 'address', address, `is ${cur.state}, not ${from}`);
  }

  async list(networkId: string, filter: { state?: LeaseState | undefined } = {}): Promise<Lease[]> {
    const rows = await this.ctx.db
      .selectFrom('leases')
      .selectAll()
      .where('network_id', '=', networkId)
      .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state!))
      .orderBy('ordinal')
      .execute();
    return rows.map(toLease);
  }

  async listByVm(vmId: string): Promise<Lease[]> {
    const rows = await this.ctx.db.selectFrom('leases').selectAll().where('vm_id', '=', vmId).orderBy('network_id').orderBy('ordinal').execute();
    return rows.map(toLease);
  }
}

/** The network must exist, and must not be deleted while this transaction takes one of its leases. */
async function shareNetwork(ctx: StoreContext, trx: Kysely<Database>, networkId: string): Promise<void> {
  const net = await trx
    .selectFrom('networks')
    .select('id')
    .where('id', '=', networkId)
    .$if(ctx.dialect === 'postgres', (q) => q.forShare())
    .executeTakeFirst();
  if (!net) throw new NotFoundError('network', networkId);
}

/**
 * Inside the caller's transaction: leases the lowest free address of the
 * network to the VM (which must exist). One UPDATE picks and takes the row, so
 * concurrent allocations never share an address: on PostgreSQL the pick is
 * `FOR UPDATE SKIP LOCKED` (a racing allocation takes the next row instead of
 * waiting); SQLite serialises writers. Returns the lease, or — when nothing
 * could be taken — the number of free rows (0: exhausted; more: all were
 * locked by allocations in flight, so the caller may retry).
 */
export async function takeFreeLease(ctx: StoreContext, trx: Kysely<Database>, networkId: string, vmId: string): Promise<Lease | number> {
  await shareNetwork(ctx, trx, networkId);
  const row = await trx
    .updateTable('leases')
    .set({ state: 'leased', vm_id: vmId, updated_at: ctx.now() })
    .where('network_id', '=', networkId)
    .where('state', '=', 'free')
    .where('address', '=', (eb) =>
      eb
        .selectFrom('leases as l')
        .select('l.address')
        .where('l.network_id', '=', networkId)
        .where('l.state', '=', 'free')
        .orderBy('l.ordinal')
        .limit(1)
        .$if(ctx.dialect === 'postgres', (q) => q.forUpdate().skipLocked()),
    )
    .returningAll()
    .executeTakeFirst();
  if (row) return toLease(row);
  const c = await trx
    .selectFrom('leases')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('network_id', '=', networkId)
    .where('state', '=', 'free')
    .executeTakeFirstOrThrow();
  return Number(c.n);
}

/**
 * Inside the caller's transaction: leases `address` of the network to the VM.
 * Only a free address is taken (the UPDATE checks it, so of two transactions
 * racing for it exactly one wins); NotFoundError when the network has no such
 * address to lease (outside its range, or its gateway), ConflictError when
 * the address is leased or held.
 */
export async function takeLeaseAt(ctx: StoreContext, trx: Kysely<Database>, networkId: string, address: string, vmId: string): Promise<Lease> {
  await shareNetwork(ctx, trx, networkId);
  const row = await trx
    .updateTable('leases')
    .set({ state: 'leased', vm_id: vmId, updated_at: ctx.now() })
    .where('network_id', '=', networkId)
    .where('address', '=', address)
    .where('state', '=', 'free')
    .returningAll()
    .executeTakeFirst();
  if (row) return toLease(row);
  const cur = await trx.selectFrom('leases').select(['state', 'vm_id']).where('network_id', '=', networkId).where('address', '=', address).executeTakeFirst();
  if (!cur) throw new NotFoundError('lease', `${networkId}/${address}`);
  throw new ConflictError('lease', 'address', address, cur.state === 'leased' ? `is already leased${cur.vm_id === vmId ? ' to this VM' : ''}` : `is ${cur.state}, not free`);
}

/** Inside the caller's transaction: frees `address` if it is leased to the VM; returns whether it was. */
export async function releaseLeaseOf(ctx: StoreContext, trx: Kysely<Database>, vmId: string, networkId: string, address: string): Promise<boolean> {
  const r = await trx
    .updateTable('leases')
    .set({ state: 'free', vm_id: null, updated_at: ctx.now() })
    .where('network_id', '=', networkId)
    .where('address', '=', address)
    .where('vm_id', '=', vmId)
    .where('state', '=', 'leased')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
