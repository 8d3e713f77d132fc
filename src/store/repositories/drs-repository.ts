import { appendEvent, fromJson, inTransaction, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { drsScalingDb, type DrsScalingDb, type DrsScalingTables } from '../drs-scaling-tables.js';
import { NotFoundError } from '../store-errors.js';

export interface DrsConfig {
  readonly enabled: boolean;
  readonly intervalS: number;
  /** The policy's fields as set (core/drs compiles them over its defaults). */
  readonly policy: JsonObject;
  readonly updatedAt: string | null;
}

export const DEFAULT_DRS_INTERVAL_S = 300;

export type DrsMoveState = DrsScalingTables['drs_moves']['state'];
export type DrsPlanState = DrsScalingTables['drs_plans']['state'];

export interface DrsMoveRecord {
  readonly seq: number;
  readonly vmId: string;
  readonly fromHostId: string;
  readonly toHostId: string;
  readonly state: DrsMoveState;
  readonly migrationId: string | null;
  readonly message: string | null;
}

export interface DrsPlanRecord {
  readonly id: string;
  readonly trigger: 'manual' | 'periodic';
  readonly mode: string;
  readonly state: DrsPlanState;
  /** The plan as the planner made it (moves with reasons, imbalance, standby hosts). */
  readonly plan: JsonObject;
  readonly message: string | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
  readonly moves: readonly DrsMoveRecord[];
}

/** The rebalancer's configuration and the journal of applied plans (migration 0013). */
export class DrsRepository {
  readonly #ctx: StoreContext;
  readonly #db: DrsScalingDb;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#db = drsScalingDb(ctx);
  }

  async config(): Promise<DrsConfig> {
    const r = await this.#db.selectFrom('drs_config').selectAll().where('id', '=', 'drs').executeTakeFirst();
    if (!r) return { enabled: false, intervalS: DEFAULT_DRS_INTERVAL_S, policy: {}, updatedAt: null };
    return { enabled: r.enabled === 1, intervalS: r.interval_s, policy: fromJson<JsonObject>(r.policy, {}), updatedAt: r.updated_at };
  }

  async setConfig(c: { enabled: boolean; intervalS: number; policy: JsonObject }): Promise<DrsConfig> {
    const at = this.#ctx.now();
    const row = { enabled: c.enabled ? 1 : 0, interval_s: c.intervalS, policy: toJson(c.policy), updated_at: at };
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      const exists = await t.selectFrom('drs_config').select('id').where('id', '=', 'drs').executeTakeFirst();
      if (exists) await t.updateTable('drs_config').set(row).where('id', '=', 'drs').execute();
      else await t.insertInto('drs_config').values({ id: 'drs', ...row }).execute();
      await appendEvent(this.#ctx, trx, { kind: 'drs.config', resource: 'drs', resourceId: 'drs', data: { enabled: c.enabled, intervalS: c.intervalS, policy: c.policy } });
    });
    return this.config();
  }

  /** Journals a plan and its moves (all `pending`) before any of them runs. */
  async createPlan(id: string, trigger: 'manual' | 'periodic', mode: string, plan: JsonObject, moves: readonly { vmId: string; fromHostId: string; toHostId: string }[]): Promise<DrsPlanRecord> {
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.insertInto('drs_plans').values({ id, trigger, mode, state: 'applying', plan: toJson(plan), message: null, created_at: this.#ctx.now(), finished_at: null }).execute();
      if (moves.length > 0) {
        await t.insertInto('drs_moves').values(moves.map((m, seq) => ({ plan_id: id, seq, vm_id: m.vmId, from_host_id: m.fromHostId, to_host_id: m.toHostId, state: 'pending' as const, migration_id: null, message: null }))).execute();
      }
      await appendEvent(this.#ctx, trx, { kind: 'drs.plan', resource: 'drs', resourceId: id, data: { state: 'applying', trigger, mode, moves: moves.length } });
    });
    return this.plan(id);
  }

  async setMove(planId: string, seq: number, patch: { state: DrsMoveState; migrationId?: string | null; message?: string | null }): Promise<void> {
    await inTransaction(this.#ctx, async (trx) => {
      await trx.withTables<DrsScalingTables>().updateTable('drs_moves')
        .set({ state: patch.state, ...(patch.migrationId !== undefined ? { migration_id: patch.migrationId } : {}), ...(patch.message !== undefined ? { message: patch.message } : {}) })
        .where('plan_id', '=', planId).where('seq', '=', seq).execute();
      await appendEvent(this.#ctx, trx, { kind: 'drs.move', resource: 'drs', resourceId: planId, data: { seq, state: patch.state, migrationId: patch.migrationId ?? null, message: patch.message ?? null } });
    });
  }

  /** Ends a plan; its moves still `pending` become `dropped`. */
  async finishPlan(id: string, state: Exclude<DrsPlanState, 'applying'>, message: string): Promise<DrsPlanRecord> {
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.updateTable('drs_moves').set({ state: 'dropped', message }).where('plan_id', '=', id).where('state', '=', 'pending').execute();
      await t.updateTable('drs_plans').set({ state, message, finished_at: this.#ctx.now() }).where('id', '=', id).execute();
      await appendEvent(this.#ctx, trx, { kind: 'drs.plan', resource: 'drs', resourceId: id, data: { state, message } });
    });
    return this.plan(id);
  }

  async plan(id: string): Promise<DrsPlanRecord> {
    const r = await this.#db.selectFrom('drs_plans').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('DRS plan', id);
    const moves = await this.#db.selectFrom('drs_moves').selectAll().where('plan_id', '=', id).orderBy('seq').execute();
    return {
      id: r.id, trigger: r.trigger, mode: r.mode, state: r.state, plan: fromJson<JsonObject>(r.plan, {}), message: r.message, createdAt: r.created_at, finishedAt: r.finished_at,
      moves: moves.map((m) => ({ seq: m.seq, vmId: m.vm_id, fromHostId: m.from_host_id, toHostId: m.to_host_id, state: m.state, migrationId: m.migration_id, message: m.message })),
    };
  }

  /** The newest plans first. */
  async plans(limit = 20, state?: DrsPlanState): Promise<DrsPlanRecord[]> {
    let q = this.#db.selectFrom('drs_plans').select('id').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
    if (state !== undefined) q = q.where('state', '=', state);
    const ids = await q.execute();
    return Promise.all(ids.map((r) => this.plan(r.id)));
  }

  /** Puts a host on standby (consolidation emptied it) or wakes it (`since` null). */
  async setStandby(hostId: string, since: string | null, reason: string): Promise<void> {
    await inTransaction(this.#ctx, async (trx) => {
      const r = await trx.updateTable('hosts').set({ standby_since: since }).where('id', '=', hostId).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) throw new NotFoundError('host', hostId);
      await appendEvent(this.#ctx, trx, { kind: 'host.standby', resource: 'host', resourceId: hostId, data: { standby: since !== null, reason } });
    });
  }

  /** When each VM last finished a migration that succeeded (ms since the epoch). */
  async lastMigrations(): Promise<Map<string, number>> {
    const rows = await this.#db.selectFrom('migrations').select(['vm_id', 'finished_at']).where('state', '=', 'succeeded').where('finished_at', 'is not', null).execute();
    const out = new Map<string, number>();
    for (const r of rows) {
      const t = Date.parse(r.finished_at ?? '');
      if (Number.isFinite(t) && t > (out.get(r.vm_id) ?? -Infinity)) out.set(r.vm_id, t);
    }
    return out;
  }
}
