import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { DATASTORE_KINDS, type Database, type DatastoreKind, type DatastoresTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, requireExists, type StoreContext } from '../store-context.js';
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
  /** Its size as an admin gave it; null: not known (a local one's is its host's disk). */
  readonly capacityMib: number | null;
}

/** What uses a datastore, by name: what keeps it from being deleted. */
export interface DatastoreUsers {
  /** VMs (not terminated) whose disk is on it. */
  readonly vms: readonly string[];
  /** Volumes whose file is on it (a local datastore's host's volumes). */
  readonly volumes: readonly string[];
  /** Templates whose VMs' disks go on it. */
  readonly templates: readonly string[];
  /** What nubo put there as far as it knows: the VMs' disks at their full (virtual) size, MiB. */
  readonly vmDiskMib: number;
}

const createSchema = z
  .object({
    name: fields.name.max(64),
    kind: z.enum(DATASTORE_KINDS),
    hostId: fields.id.nullable().default(null),
    path: fields.path.regex(/^\//, 'must be absolute'),
    cluster: fields.name.nullable().default(null),
    capacityMib: fields.positiveMib.nullable().default(null),
  })
  .refine((v) => (v.kind === 'local') === (v.hostId !== null), {
    path: ['hostId'],
    message: 'a local datastore needs its host; shared and image datastores have none',
  })
  .refine((v) => v.kind !== 'local' || v.cluster === null, {
    path: ['cluster'],
    message: 'a local datastore is in its host\'s cluster; name none',
  });
export type CreateDatastoreInput = z.input<typeof createSchema>;

function toDatastore(r: DatastoresTable): Datastore {
  return {
    id: r.id, name: r.name, kind: r.kind, hostId: r.host_id, path: r.path, createdAt: r.created_at, cluster: r.cluster,
    capacityMib: r.capacity_mib === null ? null : Number(r.capacity_mib),
  };
}

/** The bits of a stored VM spec that say where its disk is (controller-vm-spec.ts writes them). */
interface SpecDisk {
  agent?: { disk?: { datastore?: string } };
  demand?: { bindings?: { kind?: string; name?: string }[] };
}

/**
 * Datastores (issue 18): where VM disks and volumes live. A `local` one is a
 * host's own directory (its agent's data directory); a `shared` one is one
 * directory every host of its cluster (or of every cluster, when it names
 * none) mounts at the same path — the agent's `--shared-dir` — so a VM whose
 * disk is on `shared` in a cluster uses that cluster's shared datastore.
 */
export class DatastoresRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: CreateDatastoreInput): Promise<Datastore> {
    const v = validateInput('datastore', createSchema, input);
    const row: DatastoresTable = { id: randomUUID(), name: v.name, kind: v.kind, host_id: v.hostId, path: v.path, created_at: this.ctx.now(), cluster: v.cluster, capacity_mib: v.capacityMib };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        if (row.host_id !== null) await requireExists(trx, 'hosts', row.host_id, 'host');
        if (row.cluster !== null && !(await trx.selectFrom('clusters').select('id').where('name', '=', row.cluster).executeTakeFirst())) {
          throw new ValidationError('datastore', [{ field: 'cluster', message: `no cluster ${row.cluster}` }]);
        }
        await trx.insertInto('datastores').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'datastore.created', resource: 'datastore', resourceId: row.id, data: { name: row.name, kind: row.kind, cluster: row.cluster } });
      }),
      (cause) => new ConflictError('datastore', 'name', v.name, 'already exists', { cause }),
    );
    return toDatastore(row);
  }

  /** By id or name. */
  async get(ref: string): Promise<Datastore> {
    const r = await this.ctx.db.selectFrom('datastores').selectAll().where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)])).executeTakeFirst();
    if (!r) throw new NotFoundError('datastore', ref);
    return toDatastore(r);
  }

  async list(filter: { hostId?: string | undefined; kind?: DatastoreKind | undefined; cluster?: string | undefined } = {}): Promise<Datastore[]> {
    const rows = await this.ctx.db
      .selectFrom('datastores')
      .selectAll()
      .$if(filter.hostId !== undefined, (q) => q.where('host_id', '=', filter.hostId!))
      .$if(filter.kind !== undefined, (q) => q.where('kind', '=', filter.kind!))
      .$if(filter.cluster !== undefined, (q) => q.where('cluster', '=', filter.cluster!))
      .orderBy('name')
      .execute();
    return rows.map(toDatastore);
  }

  /** What uses the datastore now (see DatastoreUsers). */
  async users(ref: string): Promise<DatastoreUsers> {
    const d = await this.get(ref);
    return usersOf(this.ctx.db, toRow(d));
  }

  /**
   * Deletes a datastore, by id or name, in one transaction; the answer is the
   * datastore as it was. Refused (ConflictError naming every VM, volume and
   * template that uses it, nothing written) while anything does.
   */
  async delete(ref: string): Promise<Datastore> {
    return inTransaction(this.ctx, async (trx) => {
      const r = await trx
        .selectFrom('datastores')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!r) throw new NotFoundError('datastore', ref);
      const used = await usersOf(trx, r);
      const what: string[] = [];
      for (const [list, one, many] of [[used.vms, 'VM', 'VMs'], [used.volumes, 'volume', 'volumes'], [used.templates, 'template', 'templates']] as const) {
        if (list.length > 0) what.push(`${list.length === 1 ? one : many} ${list.join(', ')}`);
      }
      if (what.length > 0) throw new ConflictError('datastore', 'name', r.name, `is in use: ${what.join('; ')}`);
      await trx.deleteFrom('datastores').where('id', '=', r.id).execute();
      await appendEvent(this.ctx, trx, { kind: 'datastore.deleted', resource: 'datastore', resourceId: r.id, data: { name: r.name } });
      return toDatastore(r);
    });
  }
}

function toRow(d: Datastore): DatastoresTable {
  return { id: d.id, name: d.name, kind: d.kind, host_id: d.hostId, path: d.path, created_at: d.createdAt, cluster: d.cluster, capacity_mib: d.capacityMib };
}

/**
 * A local datastore holds the disks of its host's VMs that are on `local`
 * and that host's volumes. A shared one holds the disks of VMs that name it
 * (or are bound to it) and of VMs on `shared` whose host is in its cluster
 * (any host's, when it names no cluster). Templates use it when their disk
 * names it.
 */
async function usersOf(db: Kysely<Database>, d: DatastoresTable): Promise<DatastoreUsers> {
  const vms: string[] = [];
  let vmDiskMib = 0;
  const volumes: string[] = [];
  const templates: string[] = [];
  const live = await db
    .selectFrom('vms')
    .leftJoin('hosts', 'hosts.id', 'vms.host_id')
    .select(['vms.name', 'vms.spec', 'vms.host_id', 'vms.charged_disk_mib', 'hosts.cluster'])
    .where('vms.state', '!=', 'terminated')
    .orderBy('vms.name')
    .execute();
  for (const vm of live) {
    const spec = fromJson<SpecDisk>(vm.spec, {});
    const on = spec.agent?.disk?.datastore ?? 'local';
    const uses = d.kind === 'local'
      ? vm.host_id === d.host_id && on === 'local'
      : on === d.name
        || (spec.demand?.bindings ?? []).some((b) => b.kind === 'datastore' && b.name === d.name)
        || (d.kind === 'shared' && on === 'shared' && vm.host_id !== null && (d.cluster === null || vm.cluster === d.cluster));
    if (uses) {
      vms.push(vm.name);
      // The disk as charged: its image's virtual size on any datastore (the host reserves none for a shared one).
      vmDiskMib += Number(vm.charged_disk_mib);
    }
  }
  if (d.kind === 'local' && d.host_id !== null) {
    volumes.push(...(await db.selectFrom('volumes').select('name').where('host_id', '=', d.host_id).orderBy('name').execute()).map((v) => v.name));
  }
  for (const t of await db.selectFrom('templates').select(['name', 'disks']).orderBy('name').execute()) {
    if (fromJson<{ datastore?: string }[]>(t.disks, []).some((disk) => disk.datastore === d.name)) templates.push(t.name);
  }
  return { vms, volumes, templates, vmDiskMib };
}
