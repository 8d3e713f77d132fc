import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ClustersTable } from '../schema.js';
import { appendEvent, fromJson, inTransaction, mapUniqueViolation, type JsonObject, type StoreContext } from '../store-context.js';
import { ConflictError, NotFoundError } from '../store-errors.js';
import { fields, validateInput } from '../validate-input.js';
import { clusterMismatch, DEFAULT_CLUSTER, type ClusterNeeds } from '../../core/placement/cluster-fit.js';
import { toHost, type Host } from './hosts-repository.js';

/** A cluster of hosts (issue 18): its own networks and datastores, an EC2 availability zone. */
export interface Cluster {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly createdAt: string;
}

/** A cluster with what belongs to it, by name. */
export interface ClusterDetail extends Cluster {
  readonly hosts: readonly string[];
  readonly networks: readonly string[];
  readonly datastores: readonly string[];
}

const createSchema = z.object({ name: fields.name.max(64), description: z.string().max(1024).default('') });
export type CreateClusterInput = z.input<typeof createSchema>;

function toCluster(r: ClustersTable): Cluster {
  return { id: r.id, name: r.name, description: r.description, createdAt: r.created_at };
}

export class ClustersRepository {
  constructor(private readonly ctx: StoreContext) {}

  async create(input: CreateClusterInput): Promise<Cluster> {
    const v = validateInput('cluster', createSchema, input);
    const row: ClustersTable = { id: randomUUID(), name: v.name, description: v.description, created_at: this.ctx.now() };
    await mapUniqueViolation(
      inTransaction(this.ctx, async (trx) => {
        await trx.insertInto('clusters').values(row).execute();
        await appendEvent(this.ctx, trx, { kind: 'cluster.created', resource: 'cluster', resourceId: row.id, data: { name: row.name } });
      }),
      (cause) => new ConflictError('cluster', 'name', v.name, 'already exists', { cause }),
    );
    return toCluster(row);
  }

  async list(): Promise<Cluster[]> {
    return (await this.ctx.db.selectFrom('clusters').selectAll().orderBy('name').execute()).map(toCluster);
  }

  async findByName(name: string): Promise<Cluster | undefined> {
    const r = await this.ctx.db.selectFrom('clusters').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toCluster(r);
  }

  /** By id or name. */
  async get(ref: string): Promise<Cluster> {
    const r = await this.ctx.db.selectFrom('clusters').selectAll().where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)])).executeTakeFirst();
    if (!r) throw new NotFoundError('cluster', ref);
    return toCluster(r);
  }

  async detail(ref: string): Promise<ClusterDetail> {
    const c = await this.get(ref);
    const [hosts, networks, datastores] = await Promise.all([
      this.ctx.db.selectFrom('hosts').select('name').where('cluster', '=', c.name).orderBy('name').execute(),
      this.ctx.db.selectFrom('networks').select('name').where('cluster', '=', c.name).orderBy('name').execute(),
      this.ctx.db.selectFrom('datastores').select('name').where('cluster', '=', c.name).orderBy('name').execute(),
    ]);
    return { ...c, hosts: hosts.map((h) => h.name), networks: networks.map((n) => n.name), datastores: datastores.map((d) => d.name) };
  }

  /**
   * Moves a host into the cluster, in one transaction. Refused (ConflictError,
   * nothing written) while a VM on the host — one that is not terminated —
   * asks for another cluster or uses a network or datastore bound to another:
   * it would sit where it may not be placed; or when `check` (the caller's
   * further rule: the VM's requirements against the host as it would be)
   * says why not. Its VMs move with it otherwise.
   */
  async addHost(clusterRef: string, hostId: string, check?: (vm: { readonly name: string; readonly spec: JsonObject }, moved: Host) => string | undefined): Promise<Host> {
    return inTransaction(this.ctx, async (trx) => {
      const c = await trx.selectFrom('clusters').selectAll().where((eb) => eb.or([eb('id', '=', clusterRef), eb('name', '=', clusterRef)])).executeTakeFirst();
      if (!c) throw new NotFoundError('cluster', clusterRef);
      const host = await trx
        .selectFrom('hosts')
        .selectAll()
        .where('id', '=', hostId)
        .$if(this.ctx.dialect === 'postgres', (q) => q.forUpdate())
        .executeTakeFirst();
      if (!host) throw new NotFoundError('host', hostId);
      if (host.cluster === c.name) return toHost(host);
      const vms = await trx.selectFrom('vms').select(['name', 'spec']).where('host_id', '=', hostId).where('state', '!=', 'terminated').orderBy('name').execute();
      const misfits: string[] = [];
      const moved = toHost({ ...host, cluster: c.name });
      for (const vm of vms) {
        const spec = fromJson<JsonObject>(vm.spec, {});
        const why = clusterMismatch(c.name, (spec['demand'] ?? {}) as ClusterNeeds) ?? check?.({ name: vm.name, spec }, moved);
        if (why !== undefined) misfits.push(`VM ${vm.name}: ${why}`);
      }
      if (misfits.length > 0) {
        throw new ConflictError('host', 'name', host.name, `cannot move to cluster ${c.name}: ${misfits.join('; ')} (migrate ${misfits.length === 1 ? 'it' : 'them'} off first)`);
      }
      const row = await trx.updateTable('hosts').set({ cluster: c.name }).where('id', '=', hostId).returningAll().executeTakeFirstOrThrow();
      await appendEvent(this.ctx, trx, { kind: 'host.cluster', resource: 'host', resourceId: hostId, data: { name: host.name, from: host.cluster, to: c.name } });
      return toHost(row);
    });
  }

  /**
   * Deletes an empty cluster. Refused (ConflictError naming what is in it,
   * nothing written) for `default`, and while hosts are in it or networks,
   * datastores or templates name it.
   */
  async delete(ref: string): Promise<Cluster> {
    return inTransaction(this.ctx, async (trx) => {
      const c = await trx.selectFrom('clusters').selectAll().where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)])).executeTakeFirst();
      if (!c) throw new NotFoundError('cluster', ref);
      const refuse = (reason: string): ConflictError => new ConflictError('cluster', 'name', c.name, reason);
      if (c.name === DEFAULT_CLUSTER) throw refuse('is where hosts go when they register: it cannot be deleted');
      const names = async (table: 'hosts' | 'networks' | 'datastores' | 'templates'): Promise<string[]> =>
        (await trx.selectFrom(table).select('name').where('cluster', '=', c.name).orderBy('name').execute()).map((r) => r.name);
      const inIt: string[] = [];
      for (const [table, one, many] of [['hosts', 'host', 'hosts'], ['networks', 'network', 'networks'], ['datastores', 'datastore', 'datastores'], ['templates', 'template', 'templates']] as const) {
        const found = await names(table);
        if (found.length > 0) inIt.push(`${found.length === 1 ? one : many} ${found.join(', ')}`);
      }
      if (inIt.length > 0) throw refuse(`is not empty: ${inIt.join('; ')}`);
      await trx.deleteFrom('clusters').where('id', '=', c.id).execute();
      await appendEvent(this.ctx, trx, { kind: 'cluster.deleted', resource: 'cluster', resourceId: c.id, data: { name: c.name } });
      return toCluster(c);
    });
  }
}
