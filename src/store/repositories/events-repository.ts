import { z } from 'zod';
import type { Selectable } from 'kysely';
import type { EventsTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, type EventInput, type JsonObject, type StoreContext } from '../store-context.js';
import { fields, validateInput } from '../validate-input.js';

/** One entry of the state-change stream; `seq` increases in commit order. */
export interface StoreEvent {
  readonly seq: number;
  readonly at: string;
  /** e.g. `vm.state`, `host.state`, `migration.stage`. */
  readonly kind: string;
  readonly resource: string;
  readonly resourceId: string;
  readonly data: JsonObject;
}

const eventSchema = z.object({
  kind: z.string().min(1).max(64),
  resource: z.string().min(1).max(64),
  resourceId: z.string().min(1).max(256),
  data: fields.jsonObject.optional(),
});

const listSchema = z.object({ seq: z.number().int().nonnegative(), limit: z.number().int().min(1).max(10_000) });

const pruneSchema = z.object({ olderThan: z.iso.datetime(), keepNewest: z.number().int().min(1) });
export type PruneEventsInput = z.input<typeof pruneSchema>;

function toEvent(r: Selectable<EventsTable>): StoreEvent {
  return { seq: Number(r.seq), at: r.at, kind: r.kind, resource: r.resource, resourceId: r.resource_id, data: fromJson<JsonObject>(r.data, {}) };
}

export class EventsRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Appends an event of its own. State changes made by the repositories append theirs in their own transaction. */
  async append(input: EventInput): Promise<StoreEvent> {
    const v = validateInput('event', eventSchema, input);
    const seq = await inTransaction(this.ctx, (trx) => appendEvent(this.ctx, trx, v));
    const r = await this.ctx.db.selectFrom('events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
    return toEvent(r);
  }

  /** Events after `seq` (exclusive), oldest first: an SSE client resumes with its Last-Event-ID. */
  async listSince(seq: number, limit = 100): Promise<StoreEvent[]> {
    const v = validateInput('event query', listSchema, { seq, limit });
    const rows = await this.ctx.db.selectFrom('events').selectAll().where('seq', '>', v.seq).orderBy('seq').limit(v.limit).execute();
    return rows.map(toEvent);
  }

  /**
   * Events before `seq` (exclusive; 0 = from the newest), newest first: a
   * page of the newest N walks the primary key backwards, never the table.
   */
  async listBefore(seq: number, limit = 100): Promise<StoreEvent[]> {
    const v = validateInput('event query', listSchema, { seq, limit });
    let q = this.ctx.db.selectFrom('events').selectAll();
    if (v.seq > 0) q = q.where('seq', '<', v.seq);
    const rows = await q.orderBy('seq', 'desc').limit(v.limit).execute();
    return rows.map(toEvent);
  }

  /**
   * Deletes the events written before `olderThan` and all but the newest
   * `keepNewest`; returns how many went. The newest event always stays, so
   * `seq` never goes back and resuming clients see no reused ids.
   */
  async prune(input: PruneEventsInput): Promise<number> {
    const v = validateInput('event pruning', pruneSchema, input);
    return inTransaction(this.ctx, async (trx) => {
      const newest = await trx.selectFrom('events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
      if (!newest) return 0;
      const byAge = await trx.deleteFrom('events').where('at', '<', v.olderThan).where('seq', '<', newest.seq).executeTakeFirst();
      const cut = await trx.selectFrom('events').select('seq').orderBy('seq', 'desc').limit(1).offset(v.keepNewest).executeTakeFirst();
      const byCount = cut ? await trx.deleteFrom('events').where('seq', '<=', cut.seq).executeTakeFirst() : { numDeletedRows: 0n };
      return Number(byAge.numDeletedRows) + Number(byCount.numDeletedRows);
    });
  }

  /** The newest seq, 0 when there is none: where a new subscriber starts. */
  async lastSeq(): Promise<number> {
    const r = await this.ctx.db.selectFrom('events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
    return Number(r?.seq ?? 0);
  }
}
