import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { MIGRATION_KINDS, type Database, type MigrationKind, type MigrationState, type MigrationsTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, requireExists, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { CapacityError, ConflictError, NotFoundError, StaleStateError, type Resources } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { fitsFreeCapacity, type CapacityCheck } from './capacity-check.js';
import { toHost } from './hosts-repository.js';
import { adjustHostReservation } from './adjust-host-reservation.js';

/** One step of a migration as it happened; a restarted controller reads these to decide abort or roll forward. */
export interface JournalEntry {
  readonly stage: string;
  readonly at: string;
  readonly data?: JsonObject;
}

export interface MigrationRecord {
  readonly id: string;
  readonly vmId: string;
  readonly kind: MigrationKind;
  readonly sourceHostId: string;
  readonly destHostId: string;
  /** The current stage (DESIGN.md §5: reservation, precopy, stop-and-copy, commit, activation …). */
  readonly stage: string;
  readonly state: MigrationState;
  readonly journal: readonly JournalEntry[];
  /** Totals: downtime, transferred bytes, passes, final dirty rate … */
  readonly stats: JsonObject;
  readonly reason: string | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  /** Capacity this migration still holds on the destination (zero after the commit or the end). */
  readonly reserved: Resources;
  /** The migration policy the request gave (the orchestrator compiles it). */
  readonly policy: JsonObject;
}

const stage = z.string().min(1).max(64);
const createSchema = z
  .object({ vmId: fields.id, kind: z.enum(MIGRATION_KINDS), sourceHostId: fields.id, destHostId: fields.id, stage: stage.default('pre-migration') })
  .refine((v) => v.sourceHostId !== v.destHostId, { path: ['destHostId'], message: 'must differ from sourceHostId' });
export type CreateMigrationInput = z.input<typeof createSchema>;

const finishSchema = z.object({
  state: z.enum(['succeeded', 'failed', 'aborted']),
  reason: z.string().max(4096).optional(),
  stats: fields.jsonObject.optional(),
});
export type FinishMigrationInput = z.input<typeof finishSchema>;

function toMigration(r: MigrationsTable): MigrationRecord {
  return {
    id: r.id,
    vmId: r.vm_id,
    kind: r.kind,
    sourceHostId: r.source_host_id,
    destHostId: r.dest_host_id,
    stage: r.stage,
    state: r.state,
    journal: fromJson<JournalEntry[]>(r.journal, []),
    stats: fromJson<JsonObject>(r.stats, {}),
    reason: r.reason,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    reserved: { cpus: Number(r.reserved_cpus), memoryMib: Number(r.reserved_memory_mib), diskMib: Number(r.reserved_disk_mib) },
    policy: fromJson<JsonObject>(r.policy, {}),
  };
}

const demandSchema = z.strictObject({ cpus: z.number().int().min(0), memoryMib: z.number().int().min(0), diskMib: z.number().int().min(0) });

type Trx = Transaction<Database>;

/** A host as operators know it (its name), for messages; only read on the error path. */
async function hostLabel(trx: Trx, hostId: string | null): Promise<string> {
  if (hostId === null) return 'no host';
  const row = await trx.selectFrom('hosts').select('name').where('id', '=', hostId).executeTakeFirst();
  return row?.name ?? hostId;
}

const ZERO = { reserved_cpus: 0, reserved_memory_mib: 0, reserved_disk_mib: 0 };

export class MigrationsRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Starts the record of a migration (state `running`). At most one runs per VM (ConflictError). */
  async create(input: CreateMigrationInput): Promise<MigrationRecord> {
    const v = validateInput('migration', createSchema, input);
    const at = this.ctx.now();
    const row: MigrationsTable = {
      id: randomUUID(), vm_id: v.vmId, kind: v.kind, source_host_id: v.sourceHostId, dest_host_id: v.destHostId,
      stage: v.stage, state: 'running', journal: toJson([{ stage: v.stage, at }]), stats: toJson({}),
      reason: null, started_at: at, finished_at: null, ...ZERO, policy: toJson({}),
    };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'vms', v.vmId, 'vm');
        await requireExists(trx, 'hosts', v.sourceHostId, 'host');
        await requireExists(trx, 'hosts', v.destHostId, 'host');
        await trx.insertInto('migrations').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'migration.started', resource: 'migration', resourceId: row.id, data: { vmId: v.vmId, kind: v.kind, stage: v.stage } });
      }),
      (cause) => new ConflictError('migration', 'vmId', v.vmId, 'already has a running migration', { cause }),
    );
    return toMigration(row);
  }

  /** Moves a running migration to `stage`, appending it (with `data`) to the journal. */
  async updateStage(id: string, next: string, data?: JsonObject): Promise<MigrationRecord> {
    const s = validateInput('migration stage', z.object({ stage, data: fields.jsonObject.optional() }), { stage: next, data });
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'update');
      const entry: JournalEntry = s.data === undefined ? { stage: s.stage, at: this.ctx.now() } : { stage: s.stage, at: this.ctx.now(), data: s.data };
      const row = await trx
        .updateTable('migrations')
        .set({ stage: s.stage, journal: toJson([...fromJson<JournalEntry[]>(cur.journal, []), entry]) })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind: 'migration.stage', resource: 'migration', resourceId: id, data: { vmId: cur.vm_id, stage: s.stage } });
      return toMigration(row);
    });
  }

  /**
   * Stage 1 in one transaction: records a running migration of a VM that is
   * bound to `sourceHostId` and reserves `demand` on the destination, if
   * `check` says it still fits there (CapacityError otherwise: nothing
   * written). At most one migration runs per VM (ConflictError).
   */
  async createWithReservation(
    input: CreateMigrationInput & { readonly policy?: JsonObject | undefined; readonly id?: string | undefined },
    demand: Resources,
    check: CapacityCheck = fitsFreeCapacity,
  ): Promise<MigrationRecord> {
    const v = validateInput('migration', createSchema, input);
    const d = validateInput('demand', demandSchema, demand);
    const at = this.ctx.now();
    const row: MigrationsTable = {
      // A queued migration keeps its id when it starts (the queue's entry and the record are one migration).
      id: input.id ?? randomUUID(), vm_id: v.vmId, kind: v.kind, source_host_id: v.sourceHostId, dest_host_id: v.destHostId,
      stage: 'reservation', state: 'running', journal: toJson([{ stage: 'reservation', at, data: { ...d } }]), stats: toJson({}),
      reason: null, started_at: at, finished_at: null,
      reserved_cpus: d.cpus, reserved_memory_mib: d.memoryMib, reserved_disk_mib: d.diskMib, policy: toJson(input.policy ?? {}),
    };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        const vm = await trx.selectFrom('vms').select(['id', 'host_id']).where('id', '=', v.vmId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
        if (!vm) throw new NotFoundError('vm', v.vmId);
        if (vm.host_id !== v.sourceHostId) throw new ConflictError('migration', 'sourceHostId', v.sourceHostId, `the VM is on ${await hostLabel(trx, vm.host_id)}`);
        await requireExists(trx, 'hosts', v.sourceHostId, 'host');
        const hostRow = await trx.selectFrom('hosts').selectAll().where('id', '=', v.destHostId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
        if (!hostRow) throw new NotFoundError('host', v.destHostId);
        const host = toHost(hostRow);
        const verdict = check(host, d);
        if (verdict !== true) throw new CapacityError(v.destHostId, d, host.free, verdict, host.name);
        await adjustHostReservation(trx, v.destHostId, d, '+');
        await trx.insertInto('migrations').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'migration.started', resource: 'migration', resourceId: row.id, data: { vmId: v.vmId, kind: v.kind, stage: row.stage, sourceHostId: v.sourceHostId, destHostId: v.destHostId } });
      }),
      (cause) => new ConflictError('migration', 'vmId', v.vmId, 'already has a running migration', { cause }),
    );
    return toMigration(row);
  }

  /**
   * Stage 4, the only commit point, in one transaction: the VM's host becomes
   * the destination, the destination's reservation becomes the VM's, and the
   * source's is freed; the journal says `committed`. Idempotent: a second
   * call on a committed migration changes nothing.
   */
  async commit(id: string): Promise<MigrationRecord> {
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'commit');
      const vm = await trx.selectFrom('vms').selectAll().where('id', '=', cur.vm_id).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirstOrThrow();
      if (vm.host_id === cur.dest_host_id) return toMigration(cur);
      if (vm.host_id !== cur.source_host_id) throw new ConflictError('migration', 'vmId', cur.vm_id, `the VM is on ${await hostLabel(trx, vm.host_id)}, neither end of the migration`);
      const held = { cpus: Number(vm.reserved_cpus), memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
      const moving = { cpus: Number(cur.reserved_cpus), memoryMib: Number(cur.reserved_memory_mib), diskMib: Number(cur.reserved_disk_mib) };
      await adjustHostReservation(trx, cur.source_host_id, held, '-');
      await trx
        .updateTable('vms')
        .set({ host_id: cur.dest_host_id, reserved_cpus: moving.cpus, reserved_memory_mib: moving.memoryMib, reserved_disk_mib: moving.diskMib, version: vm.version + 1, updated_at: this.ctx.now() })
        .where('id', '=', cur.vm_id)
        .execute();
      const row = await this.#journal(trx, cur, 'committed', { hostId: cur.dest_host_id }, ZERO);
      await appendEvent(this.ctx, trx, { kind: 'vm.host', resource: 'vm', resourceId: cur.vm_id, data: { from: cur.source_host_id, to: cur.dest_host_id, migrationId: id } });
      return row;
    });
  }

  /**
   * Undoes the commit when the destination died before it ran the VM and the
   * source still holds a complete copy: the VM goes back to the source, with
   * its reservation there again (it was freed by the commit; taken back even
   * if the room was given away meanwhile, since the VM already runs there).
   */
  async revertCommit(id: string, reason: string): Promise<MigrationRecord> {
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'revert');
      const vm = await trx.selectFrom('vms').selectAll().where('id', '=', cur.vm_id).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirstOrThrow();
      if (vm.host_id === cur.source_host_id) return toMigration(cur);
      if (vm.host_id !== cur.dest_host_id) throw new ConflictError('migration', 'vmId', cur.vm_id, `the VM is on ${await hostLabel(trx, vm.host_id)}, neither end of the migration`);
      const held = { cpus: Number(vm.reserved_cpus), memoryMib: Number(vm.reserved_memory_mib), diskMib: Number(vm.reserved_disk_mib) };
      await adjustHostReservation(trx, cur.dest_host_id, held, '-');
      await adjustHostReservation(trx, cur.source_host_id, held, '+');
      await trx.updateTable('vms').set({ host_id: cur.source_host_id, version: vm.version + 1, updated_at: this.ctx.now() }).where('id', '=', cur.vm_id).execute();
      // Journalled, but the stage stays: a journal past `committed` with the VM on the source is what says "reverted".
      const row = await this.#journal(trx, cur, 'reverted', { hostId: cur.source_host_id, reason }, {}, true);
      await appendEvent(this.ctx, trx, { kind: 'vm.host', resource: 'vm', resourceId: cur.vm_id, data: { from: cur.dest_host_id, to: cur.source_host_id, migrationId: id } });
      return row;
    });
  }

  /** Live numbers of a running migration (merged into `stats`); an event for watchers, no journal entry. */
  async updateProgress(id: string, stats: JsonObject): Promise<void> {
    const s = validateInput('migration progress', z.object({ stats: fields.jsonObject }), { stats });
    await inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'update');
      await trx.updateTable('migrations').set({ stats: toJson({ ...fromJson<JsonObject>(cur.stats, {}), ...s.stats }) }).where('id', '=', id).execute();
      await appendEvent(this.ctx, trx, { kind: 'migration.progress', resource: 'migration', resourceId: id, data: { vmId: cur.vm_id, stage: cur.stage, ...s.stats } });
    });
  }

  async #journal(
    trx: Trx,
    cur: MigrationsTable,
    stage: string,
    data: JsonObject,
    patch: Partial<Pick<MigrationsTable, 'reserved_cpus' | 'reserved_memory_mib' | 'reserved_disk_mib'>>,
    keepStage = false,
  ): Promise<MigrationRecord> {
    const entry: JournalEntry = { stage, at: this.ctx.now(), data };
    const row = await trx
      .updateTable('migrations')
      .set({ stage: keepStage ? cur.stage : stage, journal: toJson([...fromJson<JournalEntry[]>(cur.journal, []), entry]), ...patch })
      .where('id', '=', cur.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendEvent(this.ctx, trx, { kind: 'migration.stage', resource: 'migration', resourceId: cur.id, data: { vmId: cur.vm_id, stage } });
    return toMigration(row);
  }

  /** Ends a running migration with its outcome, freeing what it still holds on the destination; StaleStateError if it already ended. */
  async finish(id: string, input: FinishMigrationInput): Promise<MigrationRecord> {
    const f = validateInput('migration outcome', finishSchema, input);
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'finish');
      const at = this.ctx.now();
      const held = { cpus: Number(cur.reserved_cpus), memoryMib: Number(cur.reserved_memory_mib), diskMib: Number(cur.reserved_disk_mib) };
      if (held.cpus > 0 || held.memoryMib > 0 || held.diskMib > 0) await adjustHostReservation(trx, cur.dest_host_id, held, '-');
      const entry: JournalEntry = { stage: f.state, at, data: { reason: f.reason ?? null } };
      const row = await trx
        .updateTable('migrations')
        .set({
          state: f.state,
          reason: f.reason ?? null,
          stats: toJson({ ...fromJson<JsonObject>(cur.stats, {}), ...f.stats }),
          journal: toJson([...fromJson<JournalEntry[]>(cur.journal, []), entry]),
          finished_at: at,
          ...ZERO,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, {
        kind: 'migration.finished',
        resource: 'migration',
        resourceId: id,
        data: { vmId: cur.vm_id, state: f.state, reason: f.reason ?? null },
      });
      return toMigration(row);
    });
  }

  /**
   * The copy an ended migration had to leave on `hostId` (a succeeded
   * migration's source, a rolled-back one's destination: its agent did not
   * answer then) was released later by the host monitor: the record says so,
   * and a succeeded one reaches its final stage `cleaned`. Returns the
   * records it changed (none when nothing was waiting for that release).
   */
  async noteCopyReleased(vmId: string, hostId: string): Promise<MigrationRecord[]> {
    const v = validateInput('released copy', z.object({ vmId: fields.id, hostId: fields.id }), { vmId, hostId });
    return inTransaction(this.ctx, async (trx) => {
      const rows = await trx
        .selectFrom('migrations')
        .selectAll()
        .where('vm_id', '=', v.vmId)
        .where('state', '!=', 'running')
        .where((eb) => eb.or([eb('source_host_id', '=', v.hostId), eb('dest_host_id', '=', v.hostId)]))
        .orderBy('started_at')
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .execute();
      const changed: MigrationRecord[] = [];
      for (const cur of rows) {
        const stats = fromJson<JsonObject>(cur.stats, {});
        const asSource = cur.state === 'succeeded' && cur.source_host_id === v.hostId && stats['sourceReleased'] === false;
        const asDest = cur.state !== 'succeeded' && cur.dest_host_id === v.hostId && stats['destReleased'] === false;
        if (!asSource && !asDest) continue;
        const entry: JournalEntry = { stage: asSource ? 'cleaned' : 'released', at: this.ctx.now(), data: { hostId: v.hostId, by: 'host monitor' } };
        const row = await trx
          .updateTable('migrations')
          .set({
            stage: asSource ? 'cleaned' : cur.stage,
            stats: toJson({ ...stats, [asSource ? 'sourceReleased' : 'destReleased']: true }),
            journal: toJson([...fromJson<JournalEntry[]>(cur.journal, []), entry]),
          })
          .where('id', '=', cur.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendEvent(this.ctx, trx, { kind: 'migration.stage', resource: 'migration', resourceId: cur.id, data: { vmId: cur.vm_id, stage: row.stage } });
        changed.push(toMigration(row));
      }
      return changed;
    });
  }

  async get(id: string): Promise<MigrationRecord> {
    const r = await this.ctx.db.selectFrom('migrations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('migration', id);
    return toMigration(r);
  }

  async list(filter: { vmId?: string | undefined; state?: MigrationState | undefined } = {}): Promise<MigrationRecord[]> {
    const rows = await this.ctx.db
      .selectFrom('migrations')
      .selectAll()
      .$if(filter.vmId !== undefined, (q) => q.where('vm_id', '=', filter.vmId!))
      .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state!))
      .orderBy('started_at')
      .orderBy('id')
      .execute();
    return rows.map(toMigration);
  }

  /** Migrations that finished after `after` (ISO), oldest first, at most `limit`: the controller's histograms read them once each. */
  async listFinishedSince(after: string, limit = 1_000): Promise<MigrationRecord[]> {
    const rows = await this.ctx.db.selectFrom('migrations').selectAll().where('finished_at', '>', after).orderBy('finished_at').orderBy('id').limit(limit).execute();
    return rows.map(toMigration);
  }

  /** Migrations still `running`: what a restarted controller must resolve first. */
  async listUnfinished(): Promise<MigrationRecord[]> {
    const rows = await this.ctx.db.selectFrom('migrations').selectAll().where('state', '=', 'running').orderBy('started_at').execute();
    return rows.map(toMigration);
  }

  private async lockRunning(trx: Transaction<Database>, id: string, action: string): Promise<MigrationsTable> {
    const r = await trx
      .selectFrom('migrations')
      .selectAll()
      .where('id', '=', id)
      .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
      .executeTakeFirst();
    if (!r) throw new NotFoundError('migration', id);
    if (r.state !== 'running') throw new StaleStateError('migration', id, r.state, ['running'], action);
    return r;
  }
}
