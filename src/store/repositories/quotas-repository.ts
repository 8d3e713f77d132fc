import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import { NO_USAGE, QUOTA_RESOURCES, chargeIsLimited, quotaOverrun, type QuotaCharge, type QuotaLimits, type QuotaResource, type QuotaUsage } from '../../core/quota/quota.js';
import { QuotaExceededError } from '../../core/quota/quota-exceeded-error.js';
import type { Database, QuotasTable } from '../schema.js';
import { inTransaction, type StoreContext } from '../store-context.js';
import { NotFoundError } from '../store-errors.js';
import { validateInput } from '../validate-input.js';

/** Whose limits: a user's own, or a group's (capping the sum over its members). */
export interface QuotaSubject {
  readonly kind: 'user' | 'group';
  readonly id: string;
}

/** A change of limits: a number sets one, null makes it unlimited, absent leaves it. */
export type QuotaPatch = { readonly [R in QuotaResource]?: number | null | undefined };

const COLUMN: Readonly<Record<QuotaResource, keyof Omit<QuotasTable, 'updated_at'>>> = {
  vms: 'vms', vcpus: 'vcpus', memoryMiB: 'memory_mib', diskMiB: 'disk_mib', volumes: 'volumes', images: 'images', leases: 'leases',
};

const limitField = z.number().int('must be a whole number').nonnegative('must be 0 or more').max(Number.MAX_SAFE_INTEGER).nullable().optional();
const patchSchema = z.strictObject(Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, limitField])) as Record<QuotaResource, typeof limitField>);

/** Two-key advisory locks (class, key) never meet the single-key one of the event log. ("quot" in ASCII.) */
const QUOTA_LOCK_CLASS = 0x71756f74;

function tableOf(kind: QuotaSubject['kind']): 'user_quotas' | 'group_quotas' {
  return kind === 'user' ? 'user_quotas' : 'group_quotas';
}

async function limitsIn(db: Kysely<Database>, s: QuotaSubject): Promise<QuotaLimits> {
  const row = s.kind === 'user'
    ? await db.selectFrom('user_quotas').selectAll().where('user_id', '=', s.id).executeTakeFirst()
    : await db.selectFrom('group_quotas').selectAll().where('group_id', '=', s.id).executeTakeFirst();
  const out: Partial<Record<QuotaResource, number>> = {};
  if (row) for (const r of QUOTA_RESOURCES) if (row[COLUMN[r]] !== null) out[r] = Number(row[COLUMN[r]]);
  return out;
}

/**
 * What the users own now: VMs not terminated (with their charge), volumes
 * and images; leases are the capacity leases not over (every state but
 * rejected, done, cancelled, failed).
 */
async function usageIn(db: Kysely<Database>, userIds: readonly string[]): Promise<QuotaUsage> {
  if (userIds.length === 0) return NO_USAGE;
  const ids = [...userIds];
  const vms = await db.selectFrom('vms').where('owner_id', 'in', ids).where('state', '<>', 'terminated')
    .select((eb) => [
      eb.fn.countAll().as('n'),
      eb.fn.coalesce(eb.fn.sum('charged_vcpus'), eb.lit(0)).as('vcpus'),
      eb.fn.coalesce(eb.fn.sum('charged_memory_mib'), eb.lit(0)).as('memory'),
      eb.fn.coalesce(eb.fn.sum('charged_disk_mib'), eb.lit(0)).as('disk'),
    ]).executeTakeFirstOrThrow();
  const vols = await db.selectFrom('volumes').where('owner_id', 'in', ids)
    .select((eb) => [eb.fn.countAll().as('n'), eb.fn.coalesce(eb.fn.sum('size_mib'), eb.lit(0)).as('mib')]).executeTakeFirstOrThrow();
  const imgs = await db.selectFrom('images').where('owner_id', 'in', ids).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  const leases = await db.selectFrom('capacity_leases').where('owner_id', 'in', ids).where('state', 'not in', ['rejected', 'done', 'cancelled', 'failed'])
    .select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return {
    vms: Number(vms.n), vcpus: Number(vms.vcpus), memoryMiB: Number(vms.memory), diskMiB: Number(vms.disk) + Number(vols.mib),
    volumes: Number(vols.n), images: Number(imgs.n), leases: Number(leases.n),
  };
}

async function membersOf(db: Kysely<Database>, groupId: string): Promise<string[]> {
  return (await db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).execute()).map((r) => r.user_id);
}

/**
 * The quota check of a request that grows what `ownerId` owns by `charge`;
 * call it inside the transaction that records the resource, before the
 * write. Each limit in force — the owner's, and each of the owner's groups'
 * over all its members — is compared with the usage read in this
 * transaction. On PostgreSQL (READ COMMITTED) a transaction-scoped advisory
 * lock per user and per group, taken user first and groups in id order (so
 * two checks cannot deadlock), serialises the checks: of two concurrent
 * requests the second reads the usage the first committed. SQLite's write
 * transactions are serial already (BEGIN IMMEDIATE).
 * @throws QuotaExceededError naming the subject, resource, limit, use and request; the caller's transaction rolls back
 */
export async function enforceQuota(ctx: StoreContext, trx: Transaction<Database>, ownerId: string, charge: QuotaCharge): Promise<void> {
  const groups = (await trx.selectFrom('group_members').select('group_id').where('user_id', '=', ownerId).execute()).map((r) => r.group_id).sort();
  if (ctx.dialect === 'postgres') {
    for (const key of [`user:${ownerId}`, ...groups.map((g) => `group:${g}`)]) {
      await sql`select pg_advisory_xact_lock(${sql.lit(QUOTA_LOCK_CLASS)}, hashtext(${key}))`.execute(trx);
    }
  }
  const own = await limitsIn(trx, { kind: 'user', id: ownerId });
  if (chargeIsLimited(own, charge)) {
    const over = quotaOverrun(own, await usageIn(trx, [ownerId]), charge);
    if (over) {
      const name = (await trx.selectFrom('users').select('name').where('id', '=', ownerId).executeTakeFirst())?.name ?? ownerId;
      throw new QuotaExceededError('user', name, over.resource, over.limit, over.used, over.requested);
    }
  }
  for (const g of groups) {
    const limits = await limitsIn(trx, { kind: 'group', id: g });
    if (!chargeIsLimited(limits, charge)) continue;
    const over = quotaOverrun(limits, await usageIn(trx, await membersOf(trx, g)), charge);
    if (over) {
      const name = (await trx.selectFrom('groups').select('name').where('id', '=', g).executeTakeFirst())?.name ?? g;
      throw new QuotaExceededError('group', name, over.resource, over.limit, over.used, over.requested);
    }
  }
}

/** Limits per user and per group, and the usage they are held against (core/quota/quota.ts). */
export class QuotasRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** The subject's limits (empty: unlimited). @throws NotFoundError for an unknown (or deleted) user or group */
  async limits(s: QuotaSubject): Promise<QuotaLimits> {
    await this.#requireSubject(this.ctx.db, s);
    return limitsIn(this.ctx.db, s);
  }

  /** A user's usage, or a group's: the sum over its members. */
  async usage(s: QuotaSubject): Promise<QuotaUsage> {
    await this.#requireSubject(this.ctx.db, s);
    return s.kind === 'user' ? usageIn(this.ctx.db, [s.id]) : usageIn(this.ctx.db, await membersOf(this.ctx.db, s.id));
  }

  /**
   * What the users' VMs that belong to no live capacity lease hold (count,
   * vCPUs, memory as charged): the part of their usage a lease scheduler
   * does not already count through their leases.
   */
  async vmsOutsideLeases(userIds: readonly string[]): Promise<QuotaUsage> {
    if (userIds.length === 0) return NO_USAGE;
    const r = await this.ctx.db.selectFrom('vms').where('owner_id', 'in', [...userIds]).where('state', '<>', 'terminated')
      .where((eb) => eb('id', 'not in', eb.selectFrom('capacity_lease_vms').innerJoin('capacity_leases', 'capacity_leases.id', 'capacity_lease_vms.lease_id')
        .select('capacity_lease_vms.vm_id').where('capacity_leases.state', 'not in', ['rejected', 'done', 'cancelled', 'failed'])))
      .select((eb) => [
        eb.fn.countAll().as('n'),
        eb.fn.coalesce(eb.fn.sum('charged_vcpus'), eb.lit(0)).as('vcpus'),
        eb.fn.coalesce(eb.fn.sum('charged_memory_mib'), eb.lit(0)).as('memory'),
      ]).executeTakeFirstOrThrow();
    return { ...NO_USAGE, vms: Number(r.n), vcpus: Number(r.vcpus), memoryMiB: Number(r.memory) };
  }

  /** Each member's usage (for a group's `quota show`), in member order. */
  async memberUsage(groupId: string): Promise<{ userId: string; usage: QuotaUsage }[]> {
    await this.#requireSubject(this.ctx.db, { kind: 'group', id: groupId });
    const ids = await membersOf(this.ctx.db, groupId);
    return Promise.all(ids.map(async (userId) => ({ userId, usage: await usageIn(this.ctx.db, [userId]) })));
  }

  /**
   * Changes the subject's limits: numbers set (whole, ≥ 0), null clears
   * (unlimited), absent keep. Lowering a limit below what is in use is
   * allowed: nothing is taken away, only growth is refused from then on.
   * @throws ValidationError naming each bad field (nothing changed); NotFoundError for an unknown subject
   */
  async setLimits(s: QuotaSubject, patch: QuotaPatch): Promise<QuotaLimits> {
    const p = validateInput('quota', patchSchema, patch) as QuotaPatch;
    return inTransaction(this.ctx, async (trx) => {
      await this.#requireSubject(trx, s);
      const merged: Partial<Record<QuotaResource, number | null>> = { ...(await limitsIn(trx, s)) };
      for (const r of QUOTA_RESOURCES) if (p[r] !== undefined) merged[r] = p[r];
      const values: QuotasTable = { vms: null, vcpus: null, memory_mib: null, disk_mib: null, volumes: null, images: null, leases: null, updated_at: this.ctx.now() };
      for (const r of QUOTA_RESOURCES) values[COLUMN[r]] = merged[r] ?? null;
      const table = tableOf(s.kind);
      await trx.deleteFrom(table).where(s.kind === 'user' ? 'user_id' : 'group_id', '=', s.id).execute();
      if (s.kind === 'user') await trx.insertInto('user_quotas').values({ ...values, user_id: s.id }).execute();
      else await trx.insertInto('group_quotas').values({ ...values, group_id: s.id }).execute();
      return limitsIn(trx, s);
    });
  }

  async #requireSubject(db: Kysely<Database>, s: QuotaSubject): Promise<void> {
    const found = s.kind === 'user'
      ? await db.selectFrom('users').select('id').where('id', '=', s.id).where('deleted_at', 'is', null).executeTakeFirst()
      : await db.selectFrom('groups').select('id').where('id', '=', s.id).executeTakeFirst();
    if (!found) throw new NotFoundError(s.kind, s.id);
  }
}
