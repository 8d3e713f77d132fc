import type { CloudMigrationsTable } from '../schema.js';
import { fromJson, inTransaction, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';

export type CloudMigrationDirection = 'out' | 'back';
/** The steps of each direction, in order; `done` and `failed` end one. */
export const CLOUD_MIGRATION_STEPS = {
  out: ['export', 'register', 'launch', 'confirm', 'release'],
  back: ['image', 'export', 'download', 'place', 'cleanup'],
} as const;

/** A VM's cross-cloud cold migration as the journal holds it (migration 0032). */
export interface CloudMigration {
  readonly vmId: string;
  readonly direction: CloudMigrationDirection;
  readonly cloudId: string;
  readonly generation: number;
  readonly step: string;
  readonly start: boolean;
  readonly data: Readonly<Record<string, string>>;
  readonly error: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

const ENDED = new Set(['done', 'failed']);
export const isCloudMigrationInFlight = (m: CloudMigration | undefined): m is CloudMigration => m !== undefined && !ENDED.has(m.step);

const toMigration = (r: CloudMigrationsTable): CloudMigration => ({
  vmId: r.vm_id, direction: r.direction, cloudId: r.cloud_id, generation: r.generation, step: r.step, start: r.start === 1,
  data: fromJson<Record<string, string>>(r.data, {}), error: r.error, createdAt: r.created_at, updatedAt: r.updated_at,
});

/**
 * The journal of cross-cloud cold migrations: one row per VM, its step
 * written before the step's side effect, what a step learnt merged into
 * `data` with the next step in one write. A VM has at most one migration in
 * flight; the generation survives its end (see migration 0032).
 */
export class CloudMigrationsRepository {
  constructor(private readonly ctx: StoreContext) {}

  async get(vmId: string): Promise<CloudMigration | undefined> {
    const r = await this.ctx.db.selectFrom('cloud_migrations').selectAll().where('vm_id', '=', vmId).executeTakeFirst();
    return r ? toMigration(r) : undefined;
  }

  /** Every migration not yet ended (what a controller resumes at its start). */
  async inFlight(): Promise<CloudMigration[]> {
    const rows = await this.ctx.db.selectFrom('cloud_migrations').selectAll().where('step', 'not in', [...ENDED]).orderBy('created_at').execute();
    return rows.map(toMigration);
  }

  /** Begins a migration at its first step with the next generation. @throws ConflictError when one is in flight */
  async begin(input: { vmId: string; direction: CloudMigrationDirection; cloudId: string; start: boolean; data?: Record<string, string> }): Promise<CloudMigration> {
    return inTransaction(this.ctx, async (trx) => {
      // The cloud's row locked as clouds.remove locks it: a cloud is never removed under a migration that just began.
      const cloud = await trx.selectFrom('clouds').select('id').where('id', '=', input.cloudId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!cloud) throw new NotFoundError('cloud', input.cloudId);
      const had = await trx.selectFrom('cloud_migrations').selectAll().where('vm_id', '=', input.vmId).executeTakeFirst();
      if (had && !ENDED.has(had.step)) throw new ConflictError('vm', 'migration', input.vmId, `has a cloud migration (${had.direction}) in flight at step ${had.step}`);
      const at = this.ctx.now();
      const row: CloudMigrationsTable = {
        vm_id: input.vmId, direction: input.direction, cloud_id: input.cloudId, generation: (had?.generation ?? 0) + 1, step: CLOUD_MIGRATION_STEPS[input.direction][0],
        start: input.start ? 1 : 0, data: toJson(input.data ?? {}), error: null, created_at: at, updated_at: at,
      };
      if (had) await trx.updateTable('cloud_migrations').set(row).where('vm_id', '=', input.vmId).execute();
      else await trx.insertInto('cloud_migrations').values(row).execute();
      return toMigration(row);
    });
  }

  /**
   * Moves the migration of this generation to `step`, merging `data` (and
   * `error`, for `failed`). @throws NotFoundError when the row is of another generation.
   */
  async advance(vmId: string, generation: number, step: string, data: Record<string, string> = {}, error?: string): Promise<CloudMigration> {
    return inTransaction(this.ctx, async (trx) => {
      const r = await trx.selectFrom('cloud_migrations').selectAll().where('vm_id', '=', vmId).where('generation', '=', generation).executeTakeFirst();
      if (!r) throw new NotFoundError('cloud migration', `${vmId}#${generation}`);
      const merged = { ...fromJson<Record<string, string>>(r.data, {}), ...data };
      const patch = { step, data: toJson(merged), error: error ?? null, updated_at: this.ctx.now() };
      await trx.updateTable('cloud_migrations').set(patch).where('vm_id', '=', vmId).execute();
      return toMigration({ ...r, ...patch });
    });
  }
}
