import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { CloudVmsTable, CloudsTable, Database } from '../schema.js';
import { fromJson, inTransaction, mapUniqueViolation, toJson, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError, StaleStateError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { lockVmRow } from './lock-vm-row.js';

export const CLOUD_BURST_POLICIES = ['never', 'when-full'] as const;
export type CloudBurstPolicy = (typeof CLOUD_BURST_POLICIES)[number];

/** A registered remote cloud as the controller uses it; the secret stays sealed here (the controller opens it). */
export interface Cloud {
  readonly id: string;
  readonly name: string;
  readonly kind: 'ec2';
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretSealed: string;
  /** nubo size `<vcpus>x<memoryMiB>` → instance type. */
  readonly instanceTypes: Readonly<Record<string, string>>;
  /** nubo image (name or id) → AMI id. */
  readonly images: Readonly<Record<string, string>>;
  readonly capacityVms: number;
  readonly pricePerHour: number;
  readonly burst: CloudBurstPolicy;
  /** Images made available on demand: uploaded to this S3 endpoint and bucket, registered, cached in `images`; null: mapped images only. */
  readonly imageUpload: { readonly s3Endpoint: string; readonly bucket: string } | null;
  readonly createdAt: string;
}

/** A VM bound to a cloud. */
export interface CloudVm {
  readonly vmId: string;
  readonly cloudId: string;
  readonly instanceType: string;
  readonly imageId: string;
  readonly instanceId: string | null;
  readonly remoteState: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

const toCloud = (r: CloudsTable): Cloud => ({
  id: r.id, name: r.name, kind: r.kind, endpoint: r.endpoint, region: r.region, accessKeyId: r.access_key_id, secretSealed: r.secret_sealed,
  instanceTypes: fromJson<Record<string, string>>(r.instance_types, {}), images: fromJson<Record<string, string>>(r.images, {}),
  capacityVms: r.capacity_vms, pricePerHour: Number(r.price_per_hour), burst: r.burst,
  imageUpload: r.s3_endpoint !== null && r.image_bucket !== null ? { s3Endpoint: r.s3_endpoint, bucket: r.image_bucket } : null, createdAt: r.created_at,
});

const toCloudVm = (r: CloudVmsTable): CloudVm => ({
  vmId: r.vm_id, cloudId: r.cloud_id, instanceType: r.instance_type, imageId: r.image_id, instanceId: r.instance_id, remoteState: r.remote_state, createdAt: r.created_at, updatedAt: r.updated_at,
});

const newCloudInput = z.object({
  name: fields.name,
  endpoint: z.string().min(1).max(2048),
  region: z.string().min(1).max(64),
  accessKeyId: z.string().min(1).max(128),
  /** Sealed by the caller; the factory of the sealed text gets the new cloud's id (the cipher's associated data). */
  seal: z.custom<(cloudId: string) => string>((v) => typeof v === 'function'),
  instanceTypes: z.record(z.string(), z.string()),
  images: z.record(z.string(), z.string()),
  capacityVms: fields.positiveCount,
  pricePerHour: z.number().nonnegative().finite(),
  burst: z.enum(CLOUD_BURST_POLICIES),
  imageUpload: z.object({ s3Endpoint: z.string().min(1).max(2048), bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/) }).nullable().default(null),
});
export type NewCloudInput = z.input<typeof newCloudInput>;

const bindInput = z.object({ vmId: fields.id, cloudId: fields.id, instanceType: z.string().min(1).max(128), imageId: z.string().min(1).max(128) });

/**
 * The remote clouds and the VMs bound to them. Binding counts against the
 * cloud's capacity limit in the binding's own transaction (the cloud row
 * locked on PostgreSQL; SQLite serialises writers), as a host's
 * reservation is taken in `vms.bindToHost`.
 */
export class CloudsRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: NewCloudInput): Promise<Cloud> {
    const v = validateInput('cloud', newCloudInput, input);
    const id = randomUUID();
    const row: CloudsTable = {
      id, name: v.name, kind: 'ec2', endpoint: v.endpoint, region: v.region, access_key_id: v.accessKeyId, secret_sealed: v.seal(id),
      instance_types: toJson(v.instanceTypes), images: toJson(v.images), capacity_vms: v.capacityVms, price_per_hour: v.pricePerHour, burst: v.burst,
      s3_endpoint: v.imageUpload?.s3Endpoint ?? null, image_bucket: v.imageUpload?.bucket ?? null, created_at: this.ctx.now(),
    };
    await mapUniqueViolation(this.ctx.db.insertInto('clouds').values(row).execute(), (cause) => new ConflictError('cloud', 'name', v.name, 'already exists', { cause }));
    return toCloud(row);
  }

  async list(): Promise<Cloud[]> {
    return (await this.ctx.db.selectFrom('clouds').selectAll().orderBy('name').execute()).map(toCloud);
  }

  /** @throws NotFoundError */
  async get(id: string): Promise<Cloud> {
    const r = await this.ctx.db.selectFrom('clouds').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new NotFoundError('cloud', id);
    return toCloud(r);
  }

  async findByName(name: string): Promise<Cloud | undefined> {
    const r = await this.ctx.db.selectFrom('clouds').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? toCloud(r) : undefined;
  }

  /** Forgets a cloud; refused (ConflictError) while VMs are bound to it or migrate to or from it, since their instances would be left with nobody driving them. */
  async remove(id: string): Promise<Cloud> {
    return inTransaction(this.ctx, async (trx) => {
      const r = await trx.selectFrom('clouds').selectAll().where('id', '=', id).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!r) throw new NotFoundError('cloud', id);
      const bound = await trx.selectFrom('cloud_vms').select((eb) => eb.fn.countAll<number>().as('n')).where('cloud_id', '=', id).executeTakeFirstOrThrow();
      if (Number(bound.n) > 0) throw new ConflictError('cloud', 'name', r.name, `still has ${Number(bound.n)} VM(s) bound to it; terminate them first`);
      // A migration to or from it before its binding (out: export, register) or after (back: cleanup) still needs it.
      const migrating = await trx.selectFrom('cloud_migrations').select((eb) => eb.fn.countAll<number>().as('n')).where('cloud_id', '=', id).where('step', 'not in', ['done', 'failed']).executeTakeFirstOrThrow();
      if (Number(migrating.n) > 0) throw new ConflictError('cloud', 'name', r.name, `has ${Number(migrating.n)} VM migration(s) to or from it in flight; wait until they end`);
      await trx.deleteFrom('clouds').where('id', '=', id).execute();
      return toCloud(r);
    });
  }

  /** The VM's binding, if it is bound to a cloud. */
  async binding(vmId: string): Promise<CloudVm | undefined> {
    const r = await this.ctx.db.selectFrom('cloud_vms').selectAll().where('vm_id', '=', vmId).executeTakeFirst();
    return r ? toCloudVm(r) : undefined;
  }

  async bindings(cloudId?: string): Promise<CloudVm[]> {
    return (await this.ctx.db.selectFrom('cloud_vms').selectAll().$if(cloudId !== undefined, (q) => q.where('cloud_id', '=', cloudId!)).orderBy('created_at').orderBy('vm_id').execute()).map(toCloudVm);
  }

  /**
   * Binds a pending VM on no host to the cloud if the cloud has room under
   * its limit: the binding and the count are one transaction. Returns the
   * binding, or `full` with the count when the limit is reached (nothing
   * written). A VM already bound (a retry after a restart) gets its binding
   * back. @throws StaleStateError unless the VM is pending and on no host
   */
  async bind(input: z.input<typeof bindInput>): Promise<CloudVm | { full: number }> {
    const v = validateInput('cloud binding', bindInput, input);
    return inTransaction(this.ctx, async (trx) => {
      const vm = await lockVmRow(this.ctx, trx, v.vmId);
      const had = await trx.selectFrom('cloud_vms').selectAll().where('vm_id', '=', v.vmId).executeTakeFirst();
      if (had) return toCloudVm(had);
      if (vm.state !== 'pending' || vm.host_id !== null) throw new StaleStateError('vm', v.vmId, vm.state, ['pending'], 'burst');
      return this.#bindIfRoom(trx, v);
    });
  }

  /**
   * Binds a VM that migrates to the cloud (cold, from a local host: any
   * state, the migration's journal decides) if the cloud has room, as
   * `bind` does. A VM already bound to this cloud gets its binding back.
   * @throws ConflictError when it is bound to another cloud
   */
  async bindMigrating(input: z.input<typeof bindInput>): Promise<CloudVm | { full: number }> {
    const v = validateInput('cloud binding', bindInput, input);
    return inTransaction(this.ctx, async (trx) => {
      await lockVmRow(this.ctx, trx, v.vmId);
      const had = await trx.selectFrom('cloud_vms').selectAll().where('vm_id', '=', v.vmId).executeTakeFirst();
      if (had && had.cloud_id !== v.cloudId) throw new ConflictError('vm', 'cloud', v.vmId, 'is bound to another cloud');
      if (had) {
        await trx.updateTable('cloud_vms').set({ instance_type: v.instanceType, image_id: v.imageId, updated_at: this.ctx.now() }).where('vm_id', '=', v.vmId).execute();
        return toCloudVm({ ...had, instance_type: v.instanceType, image_id: v.imageId });
      }
      return this.#bindIfRoom(trx, v);
    });
  }

  /** The binding counted against the cloud's limit, in the caller's transaction (the cloud's row locked on PostgreSQL). */
  async #bindIfRoom(trx: Transaction<Database>, v: z.output<typeof bindInput>): Promise<CloudVm | { full: number }> {
    const cloud = await trx.selectFrom('clouds').selectAll().where('id', '=', v.cloudId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
    if (!cloud) throw new NotFoundError('cloud', v.cloudId);
    const bound = Number((await trx.selectFrom('cloud_vms').select((eb) => eb.fn.countAll<number>().as('n')).where('cloud_id', '=', v.cloudId).executeTakeFirstOrThrow()).n);
    if (bound >= cloud.capacity_vms) return { full: bound };
    const at = this.ctx.now();
    const row: CloudVmsTable = { vm_id: v.vmId, cloud_id: v.cloudId, instance_type: v.instanceType, image_id: v.imageId, instance_id: null, remote_state: null, created_at: at, updated_at: at };
    await trx.insertInto('cloud_vms').values(row).execute();
    return toCloudVm(row);
  }

  /** Records what the remote said: the instance's id (once known) and its state. */
  async recordInstance(vmId: string, patch: { instanceId?: string; remoteState?: string }): Promise<void> {
    await this.ctx.db.updateTable('cloud_vms')
      .set({ ...(patch.instanceId !== undefined ? { instance_id: patch.instanceId } : {}), ...(patch.remoteState !== undefined ? { remote_state: patch.remoteState } : {}), updated_at: this.ctx.now() })
      .where('vm_id', '=', vmId).execute();
  }

  /**
   * Caches an AMI made on demand for a nubo image (by its id) in the cloud's
   * image map, in one transaction (read, add, write) so that two images
   * cached at once both stay. An entry already there is kept: the first AMI wins.
   */
  async cacheImage(cloudId: string, imageKey: string, amiId: string): Promise<string> {
    return inTransaction(this.ctx, async (trx) => {
      const r = await trx.selectFrom('clouds').select('images').where('id', '=', cloudId).$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate()).executeTakeFirst();
      if (!r) throw new NotFoundError('cloud', imageKey);
      const images = fromJson<Record<string, string>>(r.images, {});
      if (Object.hasOwn(images, imageKey)) return images[imageKey]!;
      await trx.updateTable('clouds').set({ images: toJson({ ...images, [imageKey]: amiId }) }).where('id', '=', cloudId).execute();
      return amiId;
    });
  }

  /** The AMI a bound VM launches from, once its image was made available there. */
  async setBindingImage(vmId: string, amiId: string): Promise<void> {
    await this.ctx.db.updateTable('cloud_vms').set({ image_id: amiId, updated_at: this.ctx.now() }).where('vm_id', '=', vmId).execute();
  }

  /** Ends a binding (the instance terminated, or the launch refused): the cloud's room is given back. Idempotent. */
  async unbind(vmId: string): Promise<boolean> {
    const r = await this.ctx.db.deleteFrom('cloud_vms').where('vm_id', '=', vmId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
