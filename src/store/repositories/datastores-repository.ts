import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DATASTORE_KINDS, type DatastoreKind, type DatastoresTable } from '../schema.js';
import { inTransaction, mapUniqueViolation, requireExists, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { ValidationError } from '../../errors/validation-error.js';

export interface Datastore {
  readonly id: string;
  readonly name: string;
  readonly kind: DatastoreKind;
  /** The host whose agent owns a `local` datastore; null for `shared` and `image`. */
  readonly hostId: string | null;
  readonly path: string;
  readonly createdAt: string;
  /** The cluster whose hosts reach it; null: every cluster (a local datastore is its host's). */
  readonly cluster: string | null;
}

const createSchema = z
  .object({
    name: fields.name,
    kind: z.enum(DATASTORE_KINDS),
    hostId: fields.id.nullable().default(null),
    path: fields.path.regex(/^\//, 'must be absolute'),
    cluster: fields.name.nullable().default(null),
  })
  .refine((v) => (v.kind === 'local') === (v.hostId !== null), {
    path: ['hostId'],
    message: 'a local datastore needs its host; shared and image datastores have none',
  });
export type CreateDatastoreInput = z.input<typeof createSchema>;

function toDatastore(r: DatastoresTable): Datastore {
  return { id: r.id, name: r.name, kind: r.kind, hostId: r.host_id, path: r.path, createdAt: r.created_at, cluster: r.cluster };
}

export class DatastoresRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: CreateDatastoreInput): Promise<Datastore> {
    const v = validateInput('datastore', createSchema, input);
    const row: DatastoresTable = { id: randomUUID(), name: v.name, kind: v.kind, host_id: v.hostId, path: v.path, created_at: this.ctx.now(), cluster: v.cluster };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        if (row.host_id !== null) await requireExists(trx, 'hosts', row.host_id, 'host');
        if (row.cluster !== null && !(await trx.selectFrom('clusters').select('id').where('name', '=', row.cluster).executeTakeFirst())) {
          throw new ValidationError('datastore', [{ field: 'cluster', message: `no cluster ${row.cluster}` }]);
        }
        await trx.insertInto('datastores').values(row).execute();
      }),
      (cause) => new ConflictError('datastore', 'name', v.name, 'already exists', { cause }),
    );
    return toDatastore(row);
  }

  async get(id: string): Promise<Datastore> {
    const r = await this.ctx.db.selectFrom('datastores').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('datastore', id);
    return toDatastore(r);
  }

  async list(filter: { hostId?: string | undefined; kind?: DatastoreKind | undefined } = {}): Promise<Datastore[]> {
    const rows = await this.ctx.db
      .selectFrom('datastores')
      .selectAll()
      .$if(filter.hostId !== undefined, (q) => q.where('host_id', '=', filter.hostId!))
      .$if(filter.kind !== undefined, (q) => q.where('kind', '=', filter.kind!))
      .orderBy('name')
      .execute();
    return rows.map(toDatastore);
  }

  async delete(id: string): Promise<void> {
    const r = await this.ctx.db.deleteFrom('datastores').where('id', '=', id).executeTakeFirst();
    if (r.numDeletedRows === 0n) throw new NotFoundError('datastore', id);
  }
}
