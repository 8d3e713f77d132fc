import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { VM_STATES, type Database, type VmState, type VmsTable } from '../schema.js';
import { appendEvent, inTransaction, mapUniqueViolation, requireExists, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { CapacityError, ConflictError, ExhaustedError, NotFoundError, StaleStateError, type Resources } from '../store-errors.js';
import { sleep } from '../../util/deadline.js';
import { LOCKED_RETRIES, takeFreeLease, type Lease } from './leases-repository.js';
import { LeasesLocked } from './leases-locked.js';
import { reviseVmSpec, type ReviseSpecInput } from './revise-vm-spec.js';
import { fields, validateInput } from '../validate-input.js';
import { fitsFreeCapacity, type CapacityCheck } from './capacity-check.js';
import { toHost } from './hosts-repository.js';
import { enforceQuota } from './quotas-repository.js';
import { toHistory, toVm, type Vm, type VmHistoryEntry, type VmOperationRecord } from './vm-row.js';
import { resizeVm, type VmSize } from './vm-resize.js';
import { lockVmRow } from './lock-vm-row.js';
import { adjustHostReservation } from './adjust-host-reservation.js';
import { placeVmAgain, type PlaceAgainInput } from './place-vm-again.js';
import { recordVmTransition } from './record-vm-transition.js';

export type { Vm, VmHistoryEntry, VmOperationRecord };

/** A VM's identity and change marks without its spec (`stampsOnHost`). */
export interface VmStamp {
  readonly id: string;
  readonly state: VmState;
  readonly version: number;
  readonly updatedAt: string;
  /** An operation is in flight on it. */
  readonly busy: boolean;
}

const stateSchema = z.enum(VM_STATES);
const createSchema = z.object({
  /** The VM's id when its creator chose one (a UUID; unique among every VM's, terminated ones' too); else a new UUID. */
  id: z.string().uuid().optional(),
  name: fields.name,
  ownerId: fields.id,
  templateId: fields.id.nullable().default(null),
  spec: fields.jsonObject.default({}),
  stateReason: z.string().max(1024).nullable().default(null),
  /** The operation the new VM starts with (the controller's `create`), if any. */
  operation: z.object({ action: z.string().min(1).max(64), from: stateSchema }).nullable().default(null),
  /** What the VM counts against its owner's quotas (checked in the creating transaction); nothing when absent. */
  charge: z.object({ vcpus: fields.count, memoryMib: fields.mib, diskMib: fields.mib }).default({ vcpus: 0, memoryMib: 0, diskMib: 0 }),
});
export type CreateVmInput = z.input<typeof createSchema>;

const transitionSchema = z.object({
  from: z.array(stateSchema).min(1),
  to: stateSchema,
  action: z.string().min(1).max(64),
  reason: z.string().max(1024).optional(),
  expectedVersion: z.number().int().nonnegative().optional(),
  patch: z
    .object({
      stateReason: z.string().max(1024).nullable().optional(),
      spec: fields.jsonObject.optional(),
      /** Set when an action starts, null when it ends; left as is when absent. */
      operation: z.object({ action: z.string().min(1).max(64), from: stateSchema }).nullable().optional(),
    })
    .optional(),
});
export type TransitionInput = z.input<typeof transitionSchema>;

const demandSchema = z.object({ cpus: fields.count, memoryMib: fields.mib, diskMib: fields.mib });

/** Addresses a new VM gets at creation, and how its spec is completed with them. */
export interface CreateVmLeases {
  /** One lease is taken per entry, in this order (a network may appear more than once). */
  readonly networks: readonly string[];
  /** The VM's spec, given its leases in the order of `networks`. */
  readonly spec: (leases: readonly Lease[]) => JsonObject;
}

export class VmsRepository {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * Records a new VM in `pending` (history + `vm.created` event in the same
   * transaction). With `leases`, the VM's addresses are leased in that same
   * transaction and its spec completed with them: an exhausted network
   * (ExhaustedError) or an unknown one (NotFoundError) rolls everything back
   * — no VM row, no lease, no event. So does a quota its `charge` would
   * overrun (QuotaExceededError, checked under the owner's quota locks).
   */
  async create(input: CreateVmInput, leases?: CreateVmLeases): Promise<Vm> {
    const v = validateInput('vm', createSchema, input);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#create(v, leases);
      } catch (err) {
        if (!(err instanceof LeasesLocked)) throw err;
        if (attempt >= LOCKED_RETRIES) throw new ExhaustedError('network', err.message, 'unlocked free address');
        await sleep(5 + attempt);
      }
    }
  }

  async #create(v: z.output<typeof createSchema>, leases: CreateVmLeases | undefined): Promise<Vm> {
    const at = this.ctx.now();
    const row: VmsTable = {
      id: v.id ?? randomUUID(), name: v.name, owner_id: v.ownerId, template_id: v.templateId, state: 'pending',
      state_reason: v.stateReason, host_id: null, spec: toJson(v.spec), operation: v.operation === null ? null : toJson(v.operation),
      reserved_cpus: 0, reserved_memory_mib: 0, reserved_disk_mib: 0, version: 0, created_at: at, updated_at: at,
      charged_vcpus: v.charge.vcpus, charged_memory_mib: v.charge.memoryMib, charged_disk_mib: v.charge.diskMib,
    };
    await inTransaction(this.ctx, async (trx) => {
      await requireExists(trx, 'users', row.owner_id, 'user');
      if (row.template_id !== null) await requireExists(trx, 'templates', row.template_id, 'template');
      await enforceQuota(this.ctx, trx, row.owner_id, { vms: 1, vcpus: v.charge.vcpus, memoryMiB: v.charge.memoryMib, diskMiB: v.charge.diskMib });
      // A chosen id must be free (a random one is): the primary key keeps two racing creates apart.
      await mapUniqueViolation(trx.insertInto('vms').values(row).execute(), (cause) => new ConflictError('vm', 'id', row.id, 'is already taken by another VM', { cause }));
      if (leases) {
        const taken: Lease[] = [];
        for (const networkId of leases.networks) {
          const r = await takeFreeLease(this.ctx, trx, networkId, row.id);
          if (r === 0) throw new ExhaustedError('network', networkId, 'free address');
          if (typeof r === 'number') throw new LeasesLocked(networkId);
          taken.push(r);
        }
        row.spec = toJson(leases.spec(taken));
        await trx.updateTable('vms').set({ spec: row.spec }).where('id', '=', row.id).execute();
      }
      await this.record(trx, row.id, null, 'pending', 'create', null, { name: row.name, ownerId: row.owner_id });
    });
    return toVm(row);
  }

  /** The VM's spec changed together with one of its leases, in one transaction (revise-vm-spec.ts). */
  reviseSpec(id: string, input: ReviseSpecInput): Promise<{ vm: Vm; lease: Lease | undefined; released: boolean }> {
    return reviseVmSpec(this.ctx, id, input);
  }

  /** A powered-off VM's vCPUs and memory, quota and host room checked in the same transaction (vm-resize.ts). */
  resize(id: string, size: VmSize, check?: CapacityCheck): Promise<{ vm: Vm; changed: boolean }> {
    return resizeVm(this.ctx, id, size, check);
  }

  async get(id: string): Promise<Vm> {
    const r = await this.ctx.db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('vm', id);
    return toVm(r);
  }

  async list(filter: { ownerId?: string | undefined; state?: VmState | readonly VmState[] | undefined; hostId?: string | undefined; name?: string | undefined } = {}): Promise<Vm[]> {
    const states = filter.state === undefined ? undefined : typeof filter.state === 'string' ? [filter.state] : filter.state;
    const rows = await this.ctx.db
      .selectFrom('vms')
      .selectAll()
      .$if(filter.ownerId !== undefined, (q) => q.where('owner_id', '=', filter.ownerId!))
      .$if(filter.name !== undefined, (q) => q.where('name', '=', filter.name!))
      .$if(filter.hostId !== undefined, (q) => q.where('host_id', '=', filter.hostId!))
      .$if(states !== undefined, (q) => (states!.length === 0 ? q.where((eb) => eb.lit(false)) : q.where('state', 'in', states!)))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toVm);
  }

  /**
   * Which host each VM that is not terminated is bound to: two columns, for
   * readers that need no more (the metrics round matches every host's samples
   * to their VMs; reading whole rows of 10,000 VMs for that, every 5 s, was a
   * large part of an idle controller's store time).
   */
  async bindings(): Promise<{ id: string; hostId: string | null }[]> {
    const rows = await this.ctx.db.selectFrom('vms').select(['id', 'host_id']).where('state', '!=', 'terminated').execute();
    return rows.map((r) => ({ id: r.id, hostId: r.host_id }));
  }

  /**
   * What says whether the VMs bound to a host changed: each one's id, state,
   * version and last change, and whether an operation holds it — no spec, no
   * reason (the heartbeat reads this on every beat and the whole rows only
   * when it differs from the beat before; a host's whole rows, specs parsed,
   * 200 times a second, were most of a heartbeat's cost).
   */
  async stampsOnHost(hostId: string): Promise<VmStamp[]> {
    const rows = await this.ctx.db
      .selectFrom('vms')
      .select(['id', 'state', 'version', 'updated_at', (eb) => eb('operation', 'is not', null).as('busy')])
      .where('host_id', '=', hostId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ id: r.id, state: r.state, version: r.version, updatedAt: r.updated_at, busy: Boolean(r.busy) }));
  }

  /** How many VMs that are not terminated each host holds, by host id (hosts with none are absent): one query for a whole host list. */
  async countNotTerminatedByHost(): Promise<Map<string, number>> {
    const rows = await this.ctx.db
      .selectFrom('vms')
      .select(['host_id', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
      .where('host_id', 'is not', null)
      .where('state', '!=', 'terminated')
      .groupBy('host_id')
      .execute();
    return new Map(rows.map((r) => [r.host_id!, Number(r.n)]));
  }

  /**
   * Deletes the records of terminated VMs last changed before `before` (ISO
   * time), with their state history and migration records; their leases and
   * volumes were let go when they terminated and only lose the reference. The
   * event log keeps every state change they went through (and a `vm.purged`
   * event each), so usage adds up over it after a purge as before.
   * @returns the purged VMs
   */
  async purgeTerminated(filter: { before: string; ownerId?: string | undefined }): Promise<Vm[]> {
    return inTransaction(this.ctx, async (trx) => {
      const rows = await trx
        .selectFrom('vms')
        .selectAll()
        .where('state', '=', 'terminated')
        .where('updated_at', '<', filter.before)
        .$if(filter.ownerId !== undefined, (q) => q.where('owner_id', '=', filter.ownerId!))
        .orderBy('updated_at')
        .orderBy('id')
        .execute();
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return [];
      await trx.deleteFrom('vm_history').where('vm_id', 'in', ids).execute();
      await trx.deleteFrom('migrations').where('vm_id', 'in', ids).execute();
      await trx.updateTable('leases').set({ vm_id: null }).where('vm_id', 'in', ids).execute();
      await trx.updateTable('volumes').set({ vm_id: null, slot: null }).where('vm_id', 'in', ids).execute();
      await trx.deleteFrom('vms').where('id', 'in', ids).execute();
      for (const r of rows) await appendEvent(this.ctx, trx, { kind: 'vm.purged', resource: 'vm', resourceId: r.id, data: { name: r.name } });
      return rows.map(toVm);
    });
  }

  /** The VM's transitions, oldest first. */
  async history(vmId: string): Promise<VmHistoryEntry[]> {
    const rows = await this.ctx.db.selectFrom('vm_history').selectAll().where('vm_id', '=', vmId).orderBy('id').execute();
    return rows.map(toHistory);
  }

  /**
   * Compare-and-set of the VM's state: in one transaction, checks that the
   * state is one of `from` (and the version, when given), writes `to` with
   * version + 1, appends vm_history and a `vm.state` event. Otherwise throws
   * StaleStateError with the current state and writes nothing. The state
   * reason is reset unless `patch.stateReason` sets one.
   */
  async transition(id: string, input: TransitionInput): Promise<Vm> {
    const t = validateInput('transition', transitionSchema, input);
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lock(trx, id);
      if (!t.from.includes(cur.state) || (t.expectedVersion !== undefined && t.expectedVersion !== cur.version)) {
        throw new StaleStateError('vm', id, cur.state, t.from, t.action);
      }
      const row = await trx
        .updateTable('vms')
        .set({
          state: t.to,
          state_reason: t.patch?.stateReason ?? null,
          ...(t.patch?.spec !== undefined ? { spec: toJson(t.patch.spec) } : {}),
          ...(t.patch?.operation !== undefined ? { operation: t.patch.operation === null ? null : toJson(t.patch.operation) } : {}),
          version: cur.version + 1,
          updated_at: this.ctx.now(),
        })
        .where('id', '=', id)
        .where('version', '=', cur.version)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw new StaleStateError('vm', id, cur.state, t.from, t.action);
      await this.record(trx, id, cur.state, t.to, t.action, t.reason ?? null, { version: row.version });
      return toVm(row);
    });
  }

  /**
   * Binds a pending VM to a host and reserves `demand` there, in one
   * transaction: the host row is re-read under lock (FOR UPDATE on
   * PostgreSQL; SQLite serialises writers), `check` decides whether it still
   * fits, the host's reservation grows by exactly `demand`, and the VM moves
   * to `prolog` on that host (history + event). Throws CapacityError (nothing
   * reserved) when it no longer fits, StaleStateError unless the VM is
   * pending and unbound.
   */
  async bindToHost(vmId: string, hostId: string, demand: Resources, check: CapacityCheck = fitsFreeCapacity, opts: { action?: string; reason?: string } = {}): Promise<Vm> {
    const d = validateInput('demand', demandSchema, demand);
    const action = opts.action ?? 'deploy';
    return inTransaction(this.ctx, async (trx) => {
      const vm = await this.lock(trx, vmId);
      if (vm.state !== 'pending' || vm.host_id !== null) throw new StaleStateError('vm', vmId, vm.state, ['pending'], action);
      const hostRow = await trx
        .selectFrom('hosts')
        .selectAll()
        .where('id', '=', hostId)
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!hostRow) throw new NotFoundError('host', hostId);
      const host = toHost(hostRow);
      const verdict = check(host, d);
      if (verdict !== true) throw new CapacityError(hostId, d, host.free, verdict, host.name);
      await adjustHostReservation(trx, hostId, d, '+');
      const row = await trx
        .updateTable('vms')
        .set({
          state: 'prolog', state_reason: null, host_id: hostId,
          reserved_cpus: d.cpus, reserved_memory_mib: d.memoryMib, reserved_disk_mib: d.diskMib,
          version: vm.version + 1, updated_at: this.ctx.now(),
        })
        .where('id', '=', vmId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.record(trx, vmId, vm.state, 'prolog', action, opts.reason ?? null, { version: row.version, hostId, ...d });
      return toVm(row);
    });
  }

  /**
   * Gives the VM's reservation back to its host and unbinds it, exactly
   * once: a VM that holds no reservation is left as it is (`released:
   * false`). The state is not changed; a `vm.released` event is recorded.
   */
  async releaseFromHost(vmId: string, opts: { reason?: string } = {}): Promise<{ vm: Vm; released: boolean }> {
    return inTransaction(this.ctx, async (trx) => {
      const vm = await this.lock(trx, vmId);
      const held = { cpus: vm.reserved_cpus, memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
      if (vm.host_id === null && held.cpus === 0 && held.memoryMib === 0 && held.diskMib === 0) return { vm: toVm(vm), released: false };
      if (vm.host_id !== null) {
        await adjustHostReservation(trx, vm.host_id, held, '-');
      }
      const row = await trx
        .updateTable('vms')
        .set({ host_id: null, reserved_cpus: 0, reserved_memory_mib: 0, reserved_disk_mib: 0, version: vm.version + 1, updated_at: this.ctx.now() })
        .where('id', '=', vmId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, {
        kind: 'vm.released',
        resource: 'vm',
        resourceId: vmId,
        data: { hostId: vm.host_id, ...held, reason: opts.reason ?? null, version: row.version },
      });
      return { vm: toVm(row), released: true };
    });
  }

  /** A VM in `prolog` back to `pending` to be placed again, in one transaction (place-vm-again.ts). */
  placeAgain(vmId: string, input: PlaceAgainInput): Promise<Vm> {
    return placeVmAgain(this.ctx, vmId, input);
  }

  private lock(trx: Transaction<Database>, id: string): Promise<VmsTable> {
    return lockVmRow(this.ctx, trx, id);
  }

  /** vm_history row + usage record + `vm.state` event; the event goes last (see appendEvent). */
  private record(trx: Transaction<Database>, vmId: string, from: VmState | null, to: VmState, action: string, reason: string | null, data: JsonObject): Promise<void> {
    return recordVmTransition(this.ctx, trx, { vmId, from, to, action, reason, data });
  }
}
