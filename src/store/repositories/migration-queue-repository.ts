import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { MIGRATION_KINDS, type MigrationKind, type MigrationQueueState, type MigrationQueueTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, requireExists, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';

/** A requested migration in the queue, or what became of it (its id is the migration record's once started). */
export interface QueuedMigration {
  readonly id: string;
  readonly vmId: string;
  readonly kind: MigrationKind;
  readonly sourceHostId: string;
  /** The destination chosen when it started (or the one requested). */
  readonly destHostId: string | null;
  readonly requestedTo: string | null;
  readonly priority: number;
  readonly policy: JsonObject;
  readonly state: MigrationQueueState;
  readonly reason: string | null;
  /** The planner's prediction when it was queued (and refreshed when it started). */
  readonly prediction: JsonObject | null;
  readonly origin: string | null;
  /** The admin forced `requestedTo` past the VM's placement requirements. */
  readonly forced: boolean;
  readonly queuedAt: string;
  readonly endedAt: string | null;
}

export const MIGRATION_PRIORITY = { min: -100, max: 100, default: 0 } as const;

const enqueueSchema = z.object({
  vmId: fields.id,
  kind: z.enum(MIGRATION_KINDS),
  sourceHostId: fields.id,
  requestedTo: fields.id.nullable().default(null),
  priority: z.number().int().min(MIGRATION_PRIORITY.min).max(MIGRATION_PRIORITY.max).default(MIGRATION_PRIORITY.default),
  policy: fields.jsonObject.default({}),
  prediction: fields.jsonObject.nullable().default(null),
  origin: z.string().max(128).nullable().default(null),
  forced: z.boolean().default(false),
});
export type EnqueueMigrationInput = z.input<typeof enqueueSchema>;

function toQueued(r: MigrationQueueTable): QueuedMigration {
  return {
    id: r.id, vmId: r.vm_id, kind: r.kind, sourceHostId: r.source_host_id, destHostId: r.dest_host_id, requestedTo: r.requested_to,
    priority: Number(r.priority), policy: fromJson<JsonObject>(r.policy, {}), state: r.state, reason: r.reason,
    prediction: fromJson<JsonObject | null>(r.prediction, null), origin: r.origin, forced: Number(r.forced) === 1, queuedAt: r.queued_at, endedAt: r.ended_at,
  };
}

/**
 * The migration queue (0011): entries wait `queued` until the dispatcher
 * starts them (`started`, the migration record then has the same id), a
 * cancel takes them out (`cancelled`), or a check refuses them when their
 * turn comes (`refused`, with the reason). Each change is an event.
 */
export class MigrationQueueRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Queues a migration; one waiting entry per VM (ConflictError). */
  async enqueue(input: EnqueueMigrationInput): Promise<QueuedMigration> {
    const v = validateInput('queued migration', enqueueSchema, input);
    const row: MigrationQueueTable = {
      id: randomUUID(), vm_id: v.vmId, kind: v.kind, source_host_id: v.sourceHostId, dest_host_id: null, requested_to: v.requestedTo,
      priority: v.priority, policy: toJson(v.policy), state: 'queued', reason: null,
      prediction: v.prediction === null ? null : toJson(v.prediction), origin: v.origin, queued_at: this.ctx.now(), ended_at: null, forced: v.forced ? 1 : 0,
    };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'vms', v.vmId, 'vm');
        const running = await trx.selectFrom('migrations').select('id').where('vm_id', '=', v.vmId).where('state', '=', 'running').executeTakeFirst();
        if (running) throw new ConflictError('migration', 'vmId', v.vmId, `already has a running migration (${running.id})`);
        await trx.insertInto('migration_queue').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'migration.queued', resource: 'migration', resourceId: row.id, data: { vmId: v.vmId, kind: v.kind, priority: v.priority, origin: v.origin } });
      }),
      (cause) => new ConflictError('migration', 'vmId', v.vmId, 'already has a queued migration', { cause }),
    );
    return toQueued(row);
  }

  async get(id: string): Promise<QueuedMigration> {
    const r = await this.ctx.db.selectFrom('migration_queue').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('migration', id);
    return toQueued(r);
  }

  /** Entries in queue order (highest priority, then oldest); by state and VM when asked. */
  async list(filter: { state?: MigrationQueueState | undefined; vmId?: string | undefined; origin?: string | undefined } = {}): Promise<QueuedMigration[]> {
    const rows = await this.ctx.db
      .selectFrom('migration_queue')
      .selectAll()
      .$if(filter.state !== undefined, (q) => q.where('state', '=', filter.state!))
      .$if(filter.vmId !== undefined, (q) => q.where('vm_id', '=', filter.vmId!))
      .$if(filter.origin !== undefined, (q) => q.where('origin', '=', filter.origin!))
      .orderBy('priority', 'desc')
      .orderBy('queued_at')
      .orderBy('id')
      .execute();
    return rows.map(toQueued);
  }

  /** The entry's turn came and its migration record (same id) was made: records the destination and the fresh prediction. */
  async markStarted(id: string, destHostId: string, prediction: JsonObject | null): Promise<QueuedMigration> {
    return this.#end(id, 'started', { dest_host_id: destHostId, ...(prediction !== null ? { prediction: toJson(prediction) } : {}) }, 'migration.dequeued', { destHostId });
  }

  /**
   * The planner's prediction, measured after the entry was queued (the migration does not wait for it): kept in any
   * state, since the migration may have started — or ended — by then. NotFoundError for an unknown entry.
   */
  async setPrediction(id: string, prediction: JsonObject): Promise<QueuedMigration> {
    const row = await this.ctx.db.updateTable('migration_queue').set({ prediction: toJson(prediction) }).where('id', '=', id).returningAll().executeTakeFirst();
    if (!row) throw new NotFoundError('migration', id);
    return toQueued(row);
  }

  /** Takes a waiting entry out of the queue; ConflictError once it started or ended. */
  async cancel(id: string, reason: string): Promise<QueuedMigration> {
    return this.#end(id, 'cancelled', { reason }, 'migration.cancelled', { reason });
  }

  /** A check refused the entry when its turn came. */
  async refuse(id: string, reason: string): Promise<QueuedMigration> {
    return this.#end(id, 'refused', { reason }, 'migration.refused', { reason });
  }

  async #end(id: string, to: MigrationQueueState, set: Partial<MigrationQueueTable>, kind: string, data: JsonObject): Promise<QueuedMigration> {
    return inTransaction(this.ctx, async (trx) => {
      const cur = await trx.selectFrom('migration_queue').selectAll().where('id', '=', id).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!cur) throw new NotFoundError('migration', id);
      if (cur.state !== 'queued') throw new ConflictError('migration', 'id', id, `is ${cur.state}, no longer queued`);
      const row = await trx.updateTable('migration_queue').set({ ...set, state: to, ended_at: this.ctx.now() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind, resource: 'migration', resourceId: id, data: { vmId: cur.vm_id, ...data } });
      return toQueued(row);
    });
  }
}
