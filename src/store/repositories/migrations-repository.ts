import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { MIGRATION_KINDS, type Database, type MigrationKind, type MigrationState, type MigrationsTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, requireExists, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError, StaleStateError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';

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
  };
}

export class MigrationsRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Starts the record of a migration (state `running`). At most one runs per VM (ConflictError). */
  async create(input: CreateMigrationInput): Promise<MigrationRecord> {
    const v = validateInput('migration', createSchema, input);
    const at = this.ctx.now();
    const row: MigrationsTable = {
      id: randomUUID(), vm_id: v.vmId, kind: v.kind, source_host_id: v.sourceHostId, dest_host_id: v.destHostId,
      stage: v.stage, state: 'running', journal: toJson([{ stage: v.stage, at }]), stats: toJson({}),
      reason: null, started_at: at, finished_at: null,
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

  /** Ends a running migration with its outcome; StaleStateError if it already ended. */
  async finish(id: string, input: FinishMigrationInput): Promise<MigrationRecord> {
    const f = validateInput('migration outcome', finishSchema, input);
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.lockRunning(trx, id, 'finish');
      const at = this.ctx.now();
      const entry: JournalEntry = { stage: f.state, at, data: { reason: f.reason ?? null } };
      const row = await trx
        .updateTable('migrations')
        .set({
          state: f.state,
          reason: f.reason ?? null,
          stats: toJson({ ...fromJson<JsonObject>(cur.stats, {}), ...f.stats }),
          journal: toJson([...fromJson<JournalEntry[]>(cur.journal, []), entry]),
          finished_at: at,
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

  async get(id: string): Promise<MigrationRecord> {
    const r = await this.ctx.db.selectFrom('migrations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('migration', id);
    return toMigration(r);
  }

  async list(filter: { vmId?: string | undefined } = {}): Promise<MigrationRecord[]> {
    const rows = await this.ctx.db
      .selectFrom('migrations')
      .selectAll()
      .$if(filter.vmId !== undefined, (q) => q.where('vm_id', '=', filter.vmId!))
      .orderBy('started_at')
      .orderBy('id')
      .execute();
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
