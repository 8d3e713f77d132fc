import type { Selectable, Transaction } from 'kysely';
import type { CapacityLeasesTable, Database } from '../schema.js';
import { appendEvent, fromJson, inTransaction, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { NotFoundError } from '../store-errors.js';
import { findOrUndefined } from '../find-or-undefined.js';
import { enforceQuota } from './quotas-repository.js';
import { releaseSuspendedReservation, reserveSuspended } from './suspended-vm-reservation.js';
import type { CapacityCheck } from './capacity-check.js';
import type { Resources } from '../store-errors.js';

/** Where some of a lease's VMs are (or are planned to be): `vms` of them on the host `hostId`. */
export interface HostPlacement {
  readonly hostId: string;
  readonly vms: number;
}

/** One step of a plan over [from, to) (epoch seconds), as core/leases/enactment.ts's Segment. */
export interface PlanSegment {
  readonly kind: 'prepare' | 'migrate' | 'resume' | 'run' | 'suspend' | 'shutdown';
  readonly from: number;
  readonly to: number;
}

/** The scheduler's plan of a lease as of its last change: what a restarted controller rebuilds the slot table from. */
export interface CapacityLeasePlan {
  readonly placements: readonly HostPlacement[];
  readonly segments: readonly PlanSegment[];
  /** Index of the next segment to begin. */
  readonly cursor: number;
  /** Where its saved memory is, while suspended. */
  readonly suspendedOn?: readonly HostPlacement[] | undefined;
}

/** An enactment step decided and journaled before its side effect; cleared once done. */
export interface PendingStep {
  readonly kind: 'prepare' | 'migrate' | 'resume' | 'suspend' | 'shutdown' | 'release' | 'requeue' | 'cancel';
  readonly placements: readonly HostPlacement[];
  /** For a migration, or a resume on other hosts from shared storage: where the saved VMs are now. */
  readonly from?: readonly HostPlacement[] | undefined;
  readonly at: number;
}

export interface CapacityLease {
  readonly id: string;
  readonly ownerId: string;
  readonly kind: 'ar' | 'be' | 'immediate';
  readonly state: string;
  readonly reason: string | null;
  readonly seq: number;
  readonly submitS: number;
  readonly startS: number | null;
  readonly durationS: number;
  readonly vmCount: number;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly templateId: string;
  readonly preemptible: boolean;
  readonly remainingS: number;
  readonly plan: CapacityLeasePlan;
  readonly pendingStep: PendingStep | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewCapacityLease {
  readonly id: string;
  readonly ownerId: string;
  readonly kind: CapacityLease['kind'];
  readonly state: string;
  readonly seq: number;
  readonly submitS: number;
  readonly startS?: number | undefined;
  readonly durationS: number;
  readonly vmCount: number;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly templateId: string;
  readonly preemptible: boolean;
  readonly plan: CapacityLeasePlan;
}

/** What a change writes: any of the mutable fields, and the timeline entry that explains it. */
export interface CapacityLeaseChange {
  readonly state?: string | undefined;
  readonly reason?: string | null | undefined;
  readonly remainingS?: number | undefined;
  readonly plan?: CapacityLeasePlan | undefined;
  readonly pendingStep?: PendingStep | null | undefined;
  /**
   * The lease starts over (requeued): its VMs are set aside, in this same
   * transaction, as ones to end (`retiredVms`), so the next run's VMs take
   * their numbers and no later step — nor a restart that finds a later step
   * journaled over the requeue — can mistake one run's VMs for the other's.
   */
  readonly retireVms?: boolean | undefined;
}

/** A timeline entry as a write gives it (the lease's state and reason are added). */
export interface LeaseTimelineInput {
  readonly kind: string;
  readonly detail?: JsonObject | undefined;
}

/** One lease's change and the timeline entries that explain it, as one of several written together. */
export interface LeaseWrite {
  readonly id: string;
  readonly change: CapacityLeaseChange;
  readonly entries: readonly LeaseTimelineInput[];
}

export interface LeaseVm {
  readonly leaseId: string;
  readonly idx: number;
  readonly vmId: string;
  readonly hostId: string;
}

export interface LeaseTimelineEntry {
  readonly at: string;
  readonly kind: string;
  readonly detail: JsonObject;
}

const LIVE_STATES_EXCLUDED = ['rejected', 'done', 'cancelled', 'failed'];

function toLease(r: Selectable<CapacityLeasesTable>): CapacityLease {
  return {
    id: r.id, ownerId: r.owner_id, kind: r.kind, state: r.state, reason: r.reason, seq: Number(r.seq),
    submitS: Number(r.submit_s), startS: r.start_s === null ? null : Number(r.start_s), durationS: Number(r.duration_s),
    vmCount: Number(r.vm_count), vcpus: Number(r.vcpus), memoryMib: Number(r.memory_mib), templateId: r.template_id,
    preemptible: Number(r.preemptible) === 1, remainingS: Number(r.remaining_s),
    plan: fromJson<CapacityLeasePlan>(r.plan, { placements: [], segments: [], cursor: 0 }),
    pendingStep: fromJson<PendingStep | null>(r.pending_step, null), createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/**
 * Capacity leases (migration 0010). Every write is one transaction with its
 * timeline row and a `lease.*` event on the stream (resource `lease`, the
 * owner in its data, so the event audience can scope it), so what the
 * controller decided is on disk before it acts on it.
 */
export class CapacityLeasesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Records an admitted lease. @throws QuotaExceededError (nothing written) past the owner's or a group's `leases` quota */
  async create(input: NewCapacityLease): Promise<CapacityLease> {
    return inTransaction(this.ctx, (trx) => this.#insert(trx, input));
  }

  /**
   * Records an admitted lease together with what its admission did to other
   * leases — plans cut to suspend before it, leases requeued or cancelled,
   * each with its timeline entries and journaled step — in one transaction:
   * a controller that dies half-way leaves neither (the AR is not admitted,
   * the other plans are as they were) or both. `between` runs inside the
   * transaction after the new lease's row and before the others' (a
   * failpoint: the e2e test kills the controller there).
   * @throws QuotaExceededError (nothing written) past the owner's or a group's `leases` quota
   */
  async admit(input: NewCapacityLease, others: readonly LeaseWrite[], between?: () => Promise<void>): Promise<CapacityLease> {
    return inTransaction(this.ctx, async (trx) => {
      const lease = await this.#insert(trx, input);
      await between?.();
      for (const o of others) await this.#apply(trx, o.id, o.change, o.entries);
      return lease;
    });
  }

  async #insert(trx: Transaction<Database>, input: NewCapacityLease): Promise<CapacityLease> {
    await enforceQuota(this.ctx, trx, input.ownerId, { leases: 1 });
    const now = this.ctx.now();
    const row = await trx.insertInto('capacity_leases').values({
      id: input.id, owner_id: input.ownerId, kind: input.kind, state: input.state, reason: null, seq: input.seq,
      submit_s: input.submitS, start_s: input.startS ?? null, duration_s: input.durationS, vm_count: input.vmCount,
      vcpus: input.vcpus, memory_mib: input.memoryMib, template_id: input.templateId, preemptible: input.preemptible ? 1 : 0,
      remaining_s: input.durationS, plan: toJson(input.plan), pending_step: null, created_at: now, updated_at: now,
    }).returningAll().executeTakeFirstOrThrow();
    const detail = { state: input.state, kind: input.kind };
    await trx.insertInto('capacity_lease_events').values({ lease_id: input.id, at: now, kind: 'created', detail: toJson(detail) }).execute();
    await appendEvent(this.ctx, trx, { kind: 'lease.created', resource: 'lease', resourceId: input.id, data: { ownerId: input.ownerId, ...detail } });
    return toLease(row);
  }

  async get(id: string): Promise<CapacityLease> {
    const r = await this.ctx.db.selectFrom('capacity_leases').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('lease', id);
    return toLease(r);
  }

  /** Leases in arrival order; `live`: only those not in a final state, or with a step still journaled (what a restarted controller rebuilds and finishes). */
  async list(filter: { ownerId?: string | undefined; live?: boolean | undefined } = {}): Promise<CapacityLease[]> {
    let q = this.ctx.db.selectFrom('capacity_leases').selectAll();
    if (filter.ownerId !== undefined) q = q.where('owner_id', '=', filter.ownerId);
    if (filter.live === true) q = q.where((eb) => eb.or([eb('state', 'not in', LIVE_STATES_EXCLUDED), eb('pending_step', 'is not', null)]));
    return (await q.orderBy('seq').execute()).map(toLease);
  }

  /** The next arrival number (one more than the highest given). */
  async nextSeq(): Promise<number> {
    const r = await this.ctx.db.selectFrom('capacity_leases').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
    return r?.m === null || r?.m === undefined ? 0 : Number(r.m) + 1;
  }

  /** Writes `change` with its timeline entry `kind` (and a `lease.<kind>` event) in one transaction. */
  update(id: string, change: CapacityLeaseChange, kind: string, detail: JsonObject = {}): Promise<CapacityLease> {
    return this.record(id, change, [{ kind, detail }]);
  }

  /**
   * Writes `change` with several timeline entries (and their `lease.<kind>`
   * events, in order) in one transaction: a plan's new state and the step it
   * begins are on disk together or not at all, so a controller that dies
   * between them cannot leave a lease past a step that was never journaled.
   */
  async record(id: string, change: CapacityLeaseChange, entries: readonly LeaseTimelineInput[]): Promise<CapacityLease> {
    return inTransaction(this.ctx, (trx) => this.#apply(trx, id, change, entries));
  }

  async #apply(trx: Transaction<Database>, id: string, change: CapacityLeaseChange, entries: readonly LeaseTimelineInput[]): Promise<CapacityLease> {
    const now = this.ctx.now();
    const row = await trx.updateTable('capacity_leases').set({
      ...(change.state !== undefined ? { state: change.state } : {}),
      ...(change.reason !== undefined ? { reason: change.reason } : {}),
      ...(change.remainingS !== undefined ? { remaining_s: change.remainingS } : {}),
      ...(change.plan !== undefined ? { plan: toJson(change.plan) } : {}),
      ...(change.pendingStep !== undefined ? { pending_step: change.pendingStep === null ? null : toJson(change.pendingStep) } : {}),
      updated_at: now,
    }).where('id', '=', id).returningAll().executeTakeFirst();
    if (!row) throw new NotFoundError('lease', id);
    if (change.retireVms === true) {
      const all = await trx.selectFrom('capacity_lease_vms').selectAll().where('lease_id', '=', id).execute();
      const base = Math.min(0, ...all.map((r) => Number(r.idx)));
      const live = all.filter((r) => Number(r.idx) >= 0);
      await trx.deleteFrom('capacity_lease_vms').where('lease_id', '=', id).where('idx', '>=', 0).execute();
      // Numbered below every row set aside before, so two requeues' VMs never collide.
      for (const r of live) await trx.insertInto('capacity_lease_vms').values({ lease_id: id, idx: base - 1 - Number(r.idx), vm_id: r.vm_id, host_id: r.host_id }).execute();
    }
    for (const { kind, detail } of entries) {
      const full = { ...detail, state: row.state, ...(row.reason !== null ? { reason: row.reason } : {}) };
      await trx.insertInto('capacity_lease_events').values({ lease_id: id, at: now, kind, detail: toJson(full) }).execute();
      await appendEvent(this.ctx, trx, { kind: `lease.${kind}`, resource: 'lease', resourceId: id, data: { ownerId: row.owner_id, ...full } });
    }
    return toLease(row);
  }

  /** Records (or moves) the lease's VM number `idx`. */
  async setVm(v: LeaseVm): Promise<void> {
    await inTransaction(this.ctx, async (trx) => {
      await trx.deleteFrom('capacity_lease_vms').where('lease_id', '=', v.leaseId).where('idx', '=', v.idx).execute();
      await trx.insertInto('capacity_lease_vms').values({ lease_id: v.leaseId, idx: v.idx, vm_id: v.vmId, host_id: v.hostId }).execute();
    });
  }

  /** The VMs of the lease's current run, by number. */
  async vms(leaseId: string): Promise<LeaseVm[]> {
    const rows = await this.ctx.db.selectFrom('capacity_lease_vms').selectAll().where('lease_id', '=', leaseId).where('idx', '>=', 0).orderBy('idx').execute();
    return rows.map((r) => ({ leaseId: r.lease_id, idx: Number(r.idx), vmId: r.vm_id, hostId: r.host_id }));
  }

  /** VMs of runs the lease gave up (requeued), still to be ended; each is dropped once it is. */
  async retiredVms(leaseId: string): Promise<LeaseVm[]> {
    const rows = await this.ctx.db.selectFrom('capacity_lease_vms').selectAll().where('lease_id', '=', leaseId).where('idx', '<', 0).orderBy('idx', 'desc').execute();
    return rows.map((r) => ({ leaseId: r.lease_id, idx: Number(r.idx), vmId: r.vm_id, hostId: r.host_id }));
  }

  /** Forgets one of the lease's VM rows (a retired VM once ended). */
  async dropVm(leaseId: string, idx: number): Promise<void> {
    await this.ctx.db.deleteFrom('capacity_lease_vms').where('lease_id', '=', leaseId).where('idx', '=', idx).execute();
  }

  /** The VMs of leases not yet ended: the capacity they use is the leases' own (any other VM's is not). */
  async liveVmIds(): Promise<Set<string>> {
    const rows = await this.ctx.db.selectFrom('capacity_lease_vms').innerJoin('capacity_leases', 'capacity_leases.id', 'capacity_lease_vms.lease_id')
      .select('capacity_lease_vms.vm_id').where('capacity_leases.state', 'not in', LIVE_STATES_EXCLUDED).execute();
    return new Set(rows.map((r) => r.vm_id));
  }

  async timeline(leaseId: string): Promise<LeaseTimelineEntry[]> {
    const rows = await this.ctx.db.selectFrom('capacity_lease_events').selectAll().where('lease_id', '=', leaseId).orderBy('id').execute();
    return rows.map((r) => ({ at: r.at, kind: r.kind, detail: fromJson<JsonObject>(r.detail, {}) }));
  }

  async find(id: string): Promise<CapacityLease | undefined> {
    return findOrUndefined(this.get(id));
  }

  /** A suspended lease VM gives its host reservation back (its files stay there); false when it held none. */
  releaseSuspendedVm(vmId: string): Promise<boolean> {
    return releaseSuspendedReservation(this.ctx, vmId);
  }

  /** A suspended lease VM reserves its demand on its host again before it resumes; CapacityError when it does not fit. */
  reserveSuspendedVm(vmId: string, demand: Resources, check?: CapacityCheck): Promise<boolean> {
    return reserveSuspended(this.ctx, vmId, demand, check);
  }
}
