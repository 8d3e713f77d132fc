import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { drsScalingDb, type DrsScalingDb, type DrsScalingTables } from '../drs-scaling-tables.js';
import { ConflictError, NotFoundError } from '../store-errors.js';

export interface ScalingGroupRecord {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly templateId: string;
  readonly min: number;
  readonly max: number;
  readonly desired: number;
  readonly policy: JsonObject;
  /** What each member is made with besides the template: `{ userData?, vcpus?, memoryMiB? }`. */
  readonly launch: JsonObject;
  readonly customMetric: number | null;
  readonly customMetricAt: string | null;
  readonly lastScaleAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type MemberState = DrsScalingTables['scaling_group_members']['state'];

export interface ScalingMemberRecord {
  readonly vmName: string;
  readonly vmId: string | null;
  readonly state: MemberState;
  readonly createdAt: string;
}

export interface ScalingHistoryRecord {
  readonly id: number;
  readonly at: string;
  /** `created`, `set`, `scale-out`, `scale-in`, `vm-created`, `vm-terminated`, `waiting` (a member's VM not placed yet, and why), `refused`, `error`. */
  readonly kind: string;
  readonly desiredFrom: number | null;
  readonly desiredTo: number | null;
  readonly message: string;
}

type Row = Selectable<DrsScalingTables['scaling_groups']>;

function toGroup(r: Row): ScalingGroupRecord {
  return {
    id: r.id, name: r.name, ownerId: r.owner_id, templateId: r.template_id, min: r.min_size, max: r.max_size, desired: r.desired,
    policy: fromJson<JsonObject>(r.policy, {}), launch: fromJson<JsonObject>(r.launch, {}), customMetric: r.custom_metric === null ? null : Number(r.custom_metric), customMetricAt: r.custom_metric_at,
    lastScaleAt: r.last_scale_at, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/** Autoscaling groups, their members and their history (migration 0013). Validation is the caller's (the wire schema and core/autoscale). */
export class ScalingGroupsRepository {
  readonly #ctx: StoreContext;
  readonly #db: DrsScalingDb;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#db = drsScalingDb(ctx);
  }

  async create(v: { name: string; ownerId: string; templateId: string; min: number; max: number; desired: number; policy: JsonObject; launch: JsonObject }): Promise<ScalingGroupRecord> {
    const id = randomUUID();
    const at = this.#ctx.now();
    await mapUniqueViolation(inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.insertInto('scaling_groups').values({
        id, name: v.name, owner_id: v.ownerId, template_id: v.templateId, min_size: v.min, max_size: v.max, desired: v.desired, policy: toJson(v.policy), launch: toJson(v.launch),
        custom_metric: null, custom_metric_at: null, last_scale_at: null, created_at: at, updated_at: at,
      }).execute();
      await t.insertInto('scaling_group_history').values({ group_id: id, at, kind: 'created', desired_from: null, desired_to: v.desired, message: `created with min ${v.min}, max ${v.max}, desired ${v.desired}` }).execute();
      await appendEvent(this.#ctx, trx, { kind: 'scaling-group.created', resource: 'scaling-group', resourceId: id, data: { name: v.name, desired: v.desired } });
    }), () => new ConflictError('scaling group', 'name', v.name, 'is already used by another of your scaling groups'));
    return this.get(id);
  }

  async get(id: string): Promise<ScalingGroupRecord> {
    const r = await this.#db.selectFrom('scaling_groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('scaling group', id);
    return toGroup(r);
  }

  async list(ownerId?: string): Promise<ScalingGroupRecord[]> {
    let q = this.#db.selectFrom('scaling_groups').selectAll().orderBy('name').orderBy('id');
    if (ownerId !== undefined) q = q.where('owner_id', '=', ownerId);
    return (await q.execute()).map(toGroup);
  }

  /** Changes bounds or policy (an operator's `set`), recorded in the history. */
  async update(id: string, patch: { min: number; max: number; desired: number; policy: JsonObject }, message: string): Promise<ScalingGroupRecord> {
    const before = await this.get(id);
    const at = this.#ctx.now();
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.updateTable('scaling_groups').set({ min_size: patch.min, max_size: patch.max, desired: patch.desired, policy: toJson(patch.policy), updated_at: at }).where('id', '=', id).execute();
      await t.insertInto('scaling_group_history').values({ group_id: id, at, kind: 'set', desired_from: before.desired, desired_to: patch.desired, message }).execute();
      await appendEvent(this.#ctx, trx, { kind: 'scaling-group.set', resource: 'scaling-group', resourceId: id, data: { desired: patch.desired } });
    });
    return this.get(id);
  }

  /** The decision to scale, journaled (desired, cooldown clock, history) before any VM is made or ended. */
  async scale(id: string, from: number, to: number, kind: 'scale-out' | 'scale-in', message: string): Promise<void> {
    const at = this.#ctx.now();
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.updateTable('scaling_groups').set({ desired: to, last_scale_at: at, updated_at: at }).where('id', '=', id).where('desired', '=', from).execute();
      await t.insertInto('scaling_group_history').values({ group_id: id, at, kind, desired_from: from, desired_to: to, message }).execute();
      await appendEvent(this.#ctx, trx, { kind: `scaling-group.${kind}`, resource: 'scaling-group', resourceId: id, data: { from, to, message } });
    });
  }

  async note(id: string, kind: string, message: string): Promise<void> {
    await this.#db.insertInto('scaling_group_history').values({ group_id: id, at: this.#ctx.now(), kind, desired_from: null, desired_to: null, message }).execute();
  }

  async pushMetric(id: string, value: number): Promise<ScalingGroupRecord> {
    const r = await this.#db.updateTable('scaling_groups').set({ custom_metric: value, custom_metric_at: this.#ctx.now() }).where('id', '=', id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new NotFoundError('scaling group', id);
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    await inTransaction(this.#ctx, async (trx) => {
      const r = await trx.withTables<DrsScalingTables>().deleteFrom('scaling_groups').where('id', '=', id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new NotFoundError('scaling group', id);
      await appendEvent(this.#ctx, trx, { kind: 'scaling-group.deleted', resource: 'scaling-group', resourceId: id, data: {} });
    });
  }

  async members(id: string): Promise<ScalingMemberRecord[]> {
    const rows = await this.#db.selectFrom('scaling_group_members').selectAll().where('group_id', '=', id).orderBy('created_at').orderBy('vm_name').execute();
    return rows.map((m) => ({ vmName: m.vm_name, vmId: m.vm_id, state: m.state, createdAt: m.created_at }));
  }

  /** Reserves the next member's name (`<group>-<n>`) as `creating`, before its VM is made. */
  async addMember(id: string): Promise<ScalingMemberRecord> {
    const at = this.#ctx.now();
    return inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      const g = await t.updateTable('scaling_groups').set((eb) => ({ next_member: eb('next_member', '+', 1) })).where('id', '=', id).returning(['name', 'next_member']).executeTakeFirst();
      if (!g) throw new NotFoundError('scaling group', id);
      const vmName = `${g.name}-${g.next_member - 1}`;
      await t.insertInto('scaling_group_members').values({ group_id: id, vm_name: vmName, vm_id: null, state: 'creating', created_at: at }).execute();
      return { vmName, vmId: null, state: 'creating' as const, createdAt: at };
    });
  }

  async setMember(id: string, vmName: string, patch: { vmId?: string; state: MemberState }, history?: { kind: string; message: string }): Promise<void> {
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.updateTable('scaling_group_members').set({ state: patch.state, ...(patch.vmId !== undefined ? { vm_id: patch.vmId } : {}) }).where('group_id', '=', id).where('vm_name', '=', vmName).execute();
      if (history) await t.insertInto('scaling_group_history').values({ group_id: id, at: this.#ctx.now(), kind: history.kind, desired_from: null, desired_to: null, message: history.message }).execute();
    });
  }

  async removeMember(id: string, vmName: string, history?: { kind: string; message: string }): Promise<void> {
    await inTransaction(this.#ctx, async (trx) => {
      const t = trx.withTables<DrsScalingTables>();
      await t.deleteFrom('scaling_group_members').where('group_id', '=', id).where('vm_name', '=', vmName).execute();
      if (history) await t.insertInto('scaling_group_history').values({ group_id: id, at: this.#ctx.now(), kind: history.kind, desired_from: null, desired_to: null, message: history.message }).execute();
    });
  }

  /** The newest entries first. */
  async history(id: string, limit = 100): Promise<ScalingHistoryRecord[]> {
    const rows = await this.#db.selectFrom('scaling_group_history').selectAll().where('group_id', '=', id).orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({ id: Number(r.id), at: r.at, kind: r.kind, desiredFrom: r.desired_from, desiredTo: r.desired_to, message: r.message }));
  }
}
