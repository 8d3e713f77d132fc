import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { TemplatesTable } from '../schema.js';
import { fromJson, inTransaction, mapUniqueViolation, requireExists, toJson, type JsonObject, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { ValidationError } from '../../errors/validation-error.js';

/**
 * A VM template. Disks, NICs and context are kept as the JSON documents the
 * API accepted (their rules live in core/ and the API layer); the store only
 * guarantees they are JSON objects and round-trip exactly.
 */
export interface Template {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly disks: readonly JsonObject[];
  readonly nics: readonly JsonObject[];
  readonly context: JsonObject;
  /** Placement requirements expression (e.g. `cpuModel == "EPYC" && labels.zone == "a"`), or null. */
  readonly requirements: string | null;
  readonly createdAt: string;
  /** The cluster its VMs are placed in (it must exist when the template is made); null: any. */
  readonly cluster: string | null;
}

const createSchema = z.object({
  name: fields.name,
  ownerId: fields.id,
  vcpus: fields.positiveCount,
  memoryMib: fields.positiveMib,
  disks: z.array(fields.jsonObject).max(64).default([]),
  nics: z.array(fields.jsonObject).max(64).default([]),
  context: fields.jsonObject.default({}),
  requirements: z.string().min(1).max(4096).nullable().default(null),
  cluster: fields.name.nullable().default(null),
});
export type CreateTemplateInput = z.input<typeof createSchema>;

function toTemplate(r: TemplatesTable): Template {
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    vcpus: r.vcpus,
    memoryMib: Number(r.memory_mib),
    disks: fromJson<JsonObject[]>(r.disks, []),
    nics: fromJson<JsonObject[]>(r.nics, []),
    context: fromJson<JsonObject>(r.context, {}),
    requirements: r.requirements,
    createdAt: r.created_at,
    cluster: r.cluster,
  };
}

export class TemplatesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Names are unique per owner. */
  async create(input: CreateTemplateInput): Promise<Template> {
    const v = validateInput('template', createSchema, input);
    const row: TemplatesTable = {
      id: randomUUID(),
      name: v.name,
      owner_id: v.ownerId,
      vcpus: v.vcpus,
      memory_mib: v.memoryMib,
      disks: toJson(v.disks),
      nics: toJson(v.nics),
      context: toJson(v.context),
      requirements: v.requirements,
      created_at: this.ctx.now(),
      cluster: v.cluster,
    };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'users', row.owner_id, 'user');
        if (row.cluster !== null && !(await trx.selectFrom('clusters').select('id').where('name', '=', row.cluster).executeTakeFirst())) {
          throw new ValidationError('template', [{ field: 'cluster', message: `no cluster ${row.cluster}` }]);
        }
        await trx.insertInto('templates').values(row).execute();
      }),
      (cause) => new ConflictError('template', 'name', v.name, 'already exists for this owner', { cause }),
    );
    return toTemplate(row);
  }

  async get(id: string): Promise<Template> {
    const t = await this.find(id);
    if (!t) throw new NotFoundError('template', id);
    return t;
  }

  /**
   * The template with this id, or undefined: for a reference that may be an
   * id or a name (every `POST /vms` by template name tried the name as an id
   * first, and built and caught a NotFoundError on the way).
   */
  async find(id: string): Promise<Template | undefined> {
    const r = await this.ctx.db.selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toTemplate(r) : undefined;
  }

  async list(filter: { ownerId?: string | undefined } = {}): Promise<Template[]> {
    const rows = await this.ctx.db
      .selectFrom('templates')
      .selectAll()
      .$if(filter.ownerId !== undefined, (q) => q.where('owner_id', '=', filter.ownerId!))
      .orderBy('name')
      .orderBy('id')
      .execute();
    return rows.map(toTemplate);
  }

  /** Replaces the template's context document (its VMs keep the copy they were admitted with). */
  async setContext(id: string, context: JsonObject): Promise<Template> {
    const v = validateInput('template', z.object({ context: fields.jsonObject }), { context });
    const r = await this.ctx.db.updateTable('templates').set({ context: toJson(v.context) }).where('id', '=', id).returningAll().executeTakeFirst();
    if (!r) throw new NotFoundError('template', id);
    return toTemplate(r);
  }

  /** VMs made from the template keep their own copy of the spec; their template_id becomes null. */
  async delete(id: string): Promise<void> {
    const r = await this.ctx.db.deleteFrom('templates').where('id', '=', id).executeTakeFirst();
    if (r.numDeletedRows === 0n) throw new NotFoundError('template', id);
  }
}
