import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { IMAGE_FORMATS, IMAGE_STATES, type ImageFormat, type ImageState, type ImagesTable } from '../schema.js';
import { inTransaction, mapUniqueViolation, requireExists, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { enforceQuota } from './quotas-repository.js';
import { DEFAULT_IMAGE_MIN_MEMORY_MIB, MIN_VM_MEMORY_MIB } from '../../core/memory-minimum.js';

export interface Image {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly format: ImageFormat;
  /** Bytes the file occupies. */
  readonly sizeBytes: number;
  /** Size of the disk the guest sees. */
  readonly virtualSizeBytes: number;
  readonly sha256: string;
  readonly path: string;
  readonly state: ImageState;
  readonly createdAt: string;
  /** The least memory (MiB) a VM booting from it is given: its guest does not boot with less. */
  readonly minMemoryMib: number;
}

const createSchema = z.object({
  name: fields.name,
  ownerId: fields.id,
  format: z.enum(IMAGE_FORMATS),
  sizeBytes: fields.bytes,
  virtualSizeBytes: fields.bytes,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 as 64 lowercase hex digits'),
  path: fields.path,
  minMemoryMib: z.number().int().min(MIN_VM_MEMORY_MIB).max(1024 * 1024).default(DEFAULT_IMAGE_MIN_MEMORY_MIB),
});
export type CreateImageInput = z.input<typeof createSchema>;

function toImage(r: ImagesTable): Image {
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    format: r.format,
    sizeBytes: Number(r.size_bytes),
    virtualSizeBytes: Number(r.virtual_size_bytes),
    sha256: r.sha256,
    path: r.path,
    state: r.state,
    createdAt: r.created_at,
    minMemoryMib: Number(r.min_memory_mib),
  };
}

export class ImagesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Records an image (state `ready`). Names are unique per owner. @throws QuotaExceededError (nothing written) past the owner's images quota */
  async create(input: CreateImageInput): Promise<Image> {
    const v = validateInput('image', createSchema, input);
    const row: ImagesTable = {
      id: randomUUID(),
      name: v.name,
      owner_id: v.ownerId,
      format: v.format,
      size_bytes: v.sizeBytes,
      virtual_size_bytes: v.virtualSizeBytes,
      sha256: v.sha256,
      path: v.path,
      state: 'ready',
      created_at: this.ctx.now(),
      min_memory_mib: v.minMemoryMib,
    };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'users', row.owner_id, 'user');
        await enforceQuota(this.ctx, trx, row.owner_id, { images: 1 });
        await trx.insertInto('images').values(row).execute();
      }),
      (cause) => new ConflictError('image', 'name', v.name, 'already exists for this owner', { cause }),
    );
    return toImage(row);
  }

  async get(id: string): Promise<Image> {
    const r = await this.ctx.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('image', id);
    return toImage(r);
  }

  async findByName(ownerId: string, name: string): Promise<Image | undefined> {
    const r = await this.ctx.db.selectFrom('images').selectAll().where('owner_id', '=', ownerId).where('name', '=', name).executeTakeFirst();
    return r && toImage(r);
  }

  async list(filter: { ownerId?: string | undefined } = {}): Promise<Image[]> {
    const rows = await this.ctx.db
      .selectFrom('images')
      .selectAll()
      .$if(filter.ownerId !== undefined, (q) => q.where('owner_id', '=', filter.ownerId!))
      .orderBy('name')
      .orderBy('id')
      .execute();
    return rows.map(toImage);
  }

  /** `deleting` marks an image whose files are being removed (it can no longer be used for new VMs). */
  async setState(id: string, state: ImageState): Promise<Image> {
    const s = validateInput('image state', z.enum(IMAGE_STATES), state);
    const r = await this.ctx.db.updateTable('images').set({ state: s }).where('id', '=', id).returningAll().executeTakeFirst();
    if (!r) throw new NotFoundError('image', id);
    return toImage(r);
  }

  /**
   * Points the image at new bytes (the same ones, moved) if it still points at
   * `from`: false when the image is gone or was moved meanwhile.
   */
  async movePath(id: string, from: string, to: string): Promise<boolean> {
    const path = validateInput('image path', fields.path, to);
    const r = await this.ctx.db.updateTable('images').set({ path }).where('id', '=', id).where('path', '=', from).executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async delete(id: string): Promise<void> {
    const r = await this.ctx.db.deleteFrom('images').where('id', '=', id).executeTakeFirst();
    if (r.numDeletedRows === 0n) throw new NotFoundError('image', id);
  }
}
