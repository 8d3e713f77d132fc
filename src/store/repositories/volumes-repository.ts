import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, VolumesTable } from '../schema.js';
import { appendEvent, inTransaction, mapUniqueViolation, requireExists, type StoreContext } from '../store-context.js';
import { ConflictError, DiskCapacityError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { enforceQuota } from './quotas-repository.js';
import { MAX_VOLUME_MIB, volumeNameSchema } from '../../core/volume-name.js';
import { ValidationError } from '../../errors/validation-error.js';

export interface Volume {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly sizeMib: number;
  /** The host its file lives on (set at its first attach); null before. */
  readonly hostId: string | null;
  readonly vmId: string | null;
  /** Its place among its VM's volumes (0-7); null when detached. */
  readonly slot: number | null;
  readonly createdAt: string;
  /** The cluster (EC2 availability zone) it lives in: only a VM on one of its hosts attaches it; null: none yet — its first attach's host's. */
  readonly cluster: string | null;
}

/** The most volumes one VM may have attached. */
export const MAX_VOLUMES_PER_VM = 8;

const createSchema = z.object({
  name: volumeNameSchema,
  ownerId: fields.id,
  sizeMib: z.number().int('must be a whole number of MiB').min(1, 'must be at least 1 MiB').max(MAX_VOLUME_MIB, `must be at most ${MAX_VOLUME_MIB} MiB`),
  cluster: fields.name.max(64).nullable().default(null),
});
export type CreateVolumeInput = z.input<typeof createSchema>;

function toVolume(r: VolumesTable): Volume {
  return { id: r.id, name: r.name, ownerId: r.owner_id, sizeMib: Number(r.size_mib), hostId: r.host_id, vmId: r.vm_id, slot: r.slot === null ? null : Number(r.slot), createdAt: r.created_at, cluster: r.cluster };
}

/**
 * Volumes and their attachments. Attaching picks the VM's lowest free slot
 * and binds a volume that has no host yet to the VM's host, all under the
 * row's lock, so that two attaches at once cannot both win.
 */
export class VolumesRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** @throws QuotaExceededError (nothing written) when the owner's volumes or disk quota would be overrun */
  async create(input: CreateVolumeInput): Promise<Volume> {
    const v = validateInput('volume', createSchema, input);
    const row: VolumesTable = { id: randomUUID(), name: v.name, owner_id: v.ownerId, size_mib: v.sizeMib, host_id: null, vm_id: null, slot: null, created_at: this.ctx.now(), cluster: v.cluster };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await requireExists(trx, 'users', row.owner_id, 'user');
        if (row.cluster !== null && !(await trx.selectFrom('clusters').select('id').where('name', '=', row.cluster).executeTakeFirst())) {
          throw new ValidationError('volume', [{ field: 'cluster', message: `no cluster ${row.cluster}` }]);
        }
        await enforceQuota(this.ctx, trx, row.owner_id, { volumes: 1, diskMiB: row.size_mib });
        await trx.insertInto('volumes').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'volume.created', resource: 'volume', resourceId: row.id, data: { name: row.name, sizeMib: row.size_mib, cluster: row.cluster } });
      }),
      (cause) => new ConflictError('volume', 'name', v.name, 'already exists', { cause }),
    );
    return toVolume(row);
  }

  async get(id: string): Promise<Volume> {
    const r = await this.ctx.db.selectFrom('volumes').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('volume', id);
    return toVolume(r);
  }

  async list(filter: { ownerId?: string | undefined; vmId?: string | undefined } = {}): Promise<Volume[]> {
    const rows = await this.ctx.db
      .selectFrom('volumes')
      .selectAll()
      .$if(filter.ownerId !== undefined, (q) => q.where('owner_id', '=', filter.ownerId!))
      .$if(filter.vmId !== undefined, (q) => q.where('vm_id', '=', filter.vmId!))
      .orderBy('name')
      .execute();
    return rows.map(toVolume);
  }

  /**
   * Attaches the volume to the VM on `hostId` at the VM's lowest free slot;
   * the volume's host becomes `hostId` if it had none, its cluster the host's
   * if it had none. Refused (ConflictError, nothing written) when the host is
   * in another cluster than the volume.
   */
  async attach(id: string, vmId: string, hostId: string): Promise<Volume> {
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.#lock(trx, id);
      if (cur.vm_id !== null) throw new ConflictError('volume', 'name', cur.name, cur.vm_id === vmId ? 'is already attached to this VM' : 'is attached to another VM');
      if (cur.host_id !== null && cur.host_id !== hostId) {
        // Which hosts, by name: the user sees names, and the way out is to bring the VM to the volume's host.
        const names = await trx.selectFrom('hosts').select(['id', 'name']).where('id', 'in', [cur.host_id, hostId]).execute();
        const nameOf = (id: string): string => names.find((n) => n.id === id)?.name ?? id;
        throw new ConflictError('volume', 'name', cur.name, `lives on another host than the VM: its file is on host ${nameOf(cur.host_id)}, the VM on host ${nameOf(hostId)}; a volume is attached only on its own host (move the VM to ${nameOf(cur.host_id)} first)`);
      }
      // The VM's row is locked too: two attaches to one VM pick their slots one after the other.
      const vm = await trx.selectFrom('vms').select('id').where('id', '=', vmId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!vm) throw new NotFoundError('vm', vmId);
      const host = await trx.selectFrom('hosts').select(['name', 'cluster']).where('id', '=', hostId).executeTakeFirst();
      if (!host) throw new NotFoundError('host', hostId);
      if (cur.cluster !== null && host.cluster !== cur.cluster) {
        throw new ConflictError('volume', 'name', cur.name, `is in cluster ${cur.cluster} and the VM's host ${host.name} in cluster ${host.cluster}: a volume is attached only in its own cluster (availability zone)`);
      }
      if (cur.host_id === null) await this.#ensureRoom(trx, hostId, Number(cur.size_mib));
      const taken = new Set((await trx.selectFrom('volumes').select('slot').where('vm_id', '=', vmId).execute()).map((r) => Number(r.slot)));
      let slot = 0;
      while (taken.has(slot)) slot++;
      if (slot >= MAX_VOLUMES_PER_VM) throw new ConflictError('volume', 'name', cur.name, `cannot be attached: the VM has ${MAX_VOLUMES_PER_VM} volumes, the most a VM may have`);
      const row = await trx.updateTable('volumes').set({ vm_id: vmId, host_id: hostId, slot, cluster: host.cluster }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind: 'volume.attached', resource: 'volume', resourceId: id, data: { vmId, hostId, slot } });
      return toVolume(row);
    });
  }

  /** Detaches the volume from `vmId` (idempotent: a volume not attached to it is returned as it is). Its file stays on its host. */
  async detach(id: string, vmId: string): Promise<Volume> {
    return inTransaction(this.ctx, async (trx) => {
      const cur = await this.#lock(trx, id);
      if (cur.vm_id !== vmId) return toVolume(cur);
      const row = await trx.updateTable('volumes').set({ vm_id: null, slot: null }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind: 'volume.detached', resource: 'volume', resourceId: id, data: { vmId } });
      return toVolume(row);
    });
  }

  /** Deletes a detached volume's record; refused while it is attached. */
  async delete(id: string): Promise<void> {
    await inTransaction(this.ctx, async (trx) => {
      const cur = await this.#lock(trx, id);
      if (cur.vm_id !== null) throw new ConflictError('volume', 'name', cur.name, 'is attached to a VM; detach it first');
      await trx.deleteFrom('volumes').where('id', '=', id).execute();
      // The owner is kept in the event: once the row is gone, it is what says who may read it.
      await appendEvent(this.ctx, trx, { kind: 'volume.deleted', resource: 'volume', resourceId: id, data: { name: cur.name, ownerId: cur.owner_id } });
    });
  }

  /**
   * A volume's file is made at its full size's worth of promise: the host's
   * disk must hold it beside what its VMs reserved and its other volumes. The
   * host row is locked (PostgreSQL) so two first attaches cannot both take
   * the last room.
   */
  async #ensureRoom(trx: Transaction<Database>, hostId: string, sizeMib: number): Promise<void> {
    const host = await trx
      .selectFrom('hosts')
      .select(['name', 'total_disk_mib', 'reserved_disk_mib'])
      .where('id', '=', hostId)
      .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
      .executeTakeFirstOrThrow();
    const onHost = await trx.selectFrom('volumes').select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size_mib'), eb.lit(0)).as('mib')).where('host_id', '=', hostId).executeTakeFirstOrThrow();
    const free = Number(host.total_disk_mib) - Number(host.reserved_disk_mib) - Number(onHost.mib);
    if (sizeMib > free) throw new DiskCapacityError('volume', sizeMib, Math.max(0, free), `host ${host.name}`);
  }

  async #lock(trx: Transaction<Database>, id: string): Promise<VolumesTable> {
    const r = await trx.selectFrom('volumes').selectAll().where('id', '=', id).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
    if (!r) throw new NotFoundError('volume', id);
    return r;
  }
}
