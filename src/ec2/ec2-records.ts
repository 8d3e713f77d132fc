import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../store/store-context.js';
import { newEc2Id, type MappedKind } from './ec2-ids.js';
import type { Ec2Tag } from './ec2-params.js';
import { DESCRIBE_SLICE, readDescribeFacts, type DescribeFacts } from './describe-facts.js';

export type { DescribeFacts } from './describe-facts.js';

/** The tables of migration 0015, typed here: only the EC2 adaptor reads or writes them. */
export interface Ec2Tables {
  ec2_ids: { aws_id: string; kind: MappedKind; nubo_id: string; created_at: string };
  ec2_key_pairs: { id: string; owner_id: string; name: string; key_type: string; fingerprint: string; public_key: string; created_at: string };
  ec2_security_groups: { id: string; owner_id: string; name: string; description: string; created_at: string };
  ec2_security_group_rules: { group_id: string; protocol: string; from_port: number; to_port: number; cidr: string };
  ec2_instances: { vm_id: string; owner_id: string; reservation_id: string; launch_index: number; instance_type: string; key_name: string | null };
  ec2_instance_groups: { vm_id: string; group_id: string };
  ec2_tags: { resource_id: string; owner_id: string; key: string; value: string };
  ec2_client_tokens: { owner_id: string; token: string; reservation_id: string; vm_ids: string; created_at: string };
  ec2_export_image_tasks: {
    id: string; owner_id: string; client_token: string | null; image_id: string; format: string; bucket: string; prefix: string;
    status: string; status_message: string | null; progress: number; description: string | null; created_at: string;
  };
}

export interface KeyPairRecord { id: string; ownerId: string; name: string; keyType: string; fingerprint: string; publicKey: string; createdAt: string }
export interface SecurityGroupRecord { id: string; ownerId: string; name: string; description: string; createdAt: string }
export interface IngressRule { protocol: string; fromPort: number; toPort: number; cidr: string }
export interface InstanceRecord { vmId: string; reservationId: string; launchIndex: number; instanceType: string; keyName: string | null }
export interface TagRecord { resourceId: string; key: string; value: string }
/** A ClientToken's reservation: its VMs so far, and whether its launch ended. */
/**
 * `params`: the digest of the request that claimed the token (RunInstances' `requestDigest`), so that a retry with other
 * parameters is refused as EC2 refuses it; undefined in a row written before it was kept (no retry of those is refused).
 */
export interface ClientTokenRecord { reservationId: string; vmIds: string[]; complete: boolean; params: string | undefined }
/** What a recorded launch says of its token: the VMs so far, whether this was the launch's last, and the request's digest. */
export interface LaunchProgress { token: string; vmIds: readonly string[]; complete: boolean; params: string }
// The token row's journal, one JSON text (the column is still named after its first content, the list of VMs).
const tokenVms = (p: { vmIds: readonly string[]; complete: boolean; params: string }): string => JSON.stringify({ vmIds: p.vmIds, complete: p.complete, params: p.params });
/** An ExportImage task (migration 0032): `status` is EC2's active, completed or deleted (a failed task, with its message). */
export interface ExportImageTaskRecord {
  id: string; ownerId: string; clientToken: string | null; imageId: string; format: string; bucket: string; prefix: string;
  status: string; statusMessage: string | null; progress: number; description: string | null; createdAt: string;
}
const toExportTask = (r: Ec2Tables['ec2_export_image_tasks']): ExportImageTaskRecord => ({
  id: r.id, ownerId: r.owner_id, clientToken: r.client_token, imageId: r.image_id, format: r.format, bucket: r.bucket, prefix: r.prefix,
  status: r.status, statusMessage: r.status_message, progress: r.progress, description: r.description, createdAt: r.created_at,
});

/** How many id mappings (each counted both ways) Ec2Records keeps in memory. */
const ID_CACHE_LIMIT = 20_000;

/**
 * The EC2 adaptor's own records (migration 0015): what EC2 has and nubo does
 * not. Tenancy is by `owner_id` on every row; the callers pass the caller's
 * user id and never see another user's rows.
 */
export class Ec2Records {
  /** @param describeSlice how many instances describeFacts reads a statement (tests make it small) */
  constructor(private readonly db: Kysely<Ec2Tables>, private readonly now: () => string = () => new Date().toISOString(), private readonly describeSlice = DESCRIBE_SLICE) {}

  /**
   * The id mappings read or made so far, both ways: a mapping is only ever inserted (never changed or deleted, by any
   * controller), so a copy cannot go stale, and every poll of DescribeInstances reads the same few. Bounded: past
   * ID_CACHE_LIMIT entries it starts again empty.
   */
  readonly #ids = new Map<string, string>();

  #remember(kind: MappedKind, nuboId: string, awsId: string): void {
    if (this.#ids.size >= ID_CACHE_LIMIT) this.#ids.clear();
    this.#ids.set(`${kind}:n:${nuboId}`, awsId);
    this.#ids.set(`${kind}:a:${awsId}`, nuboId);
  }

  /** The AWS id of a nubo resource, made on first use and stable afterwards. */
  async awsIdOf(kind: MappedKind, nuboId: string): Promise<string> {
    const known = await this.mappedAwsIdOf(kind, nuboId);
    if (known !== undefined) return known;
    const prefix = { instance: 'instance', image: 'image', volume: 'volume', snapshot: 'snapshot' } as const;
    const awsId = newEc2Id(prefix[kind]);
    try {
      await this.db.insertInto('ec2_ids').values({ aws_id: awsId, kind, nubo_id: nuboId, created_at: this.now() }).execute();
      this.#remember(kind, nuboId, awsId);
      return awsId;
    } catch (err) {
      // Two requests mapped the same resource at once: the first one's id stands.
      if (!isUniqueViolation(err)) throw err;
      const winner = await this.db.selectFrom('ec2_ids').select('aws_id').where('kind', '=', kind).where('nubo_id', '=', nuboId).executeTakeFirstOrThrow();
      this.#remember(kind, nuboId, winner.aws_id);
      return winner.aws_id;
    }
  }

  /** The AWS id a nubo resource was given, if it was ever given one (none is made). */
  async mappedAwsIdOf(kind: MappedKind, nuboId: string): Promise<string | undefined> {
    return (await this.mappedAwsIdsOf(kind, [nuboId])).get(nuboId);
  }

  /** The AWS ids given to these resources so far, in one read: those never mapped are not in the answer. */
  async mappedAwsIdsOf(kind: MappedKind, nuboIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unknown: string[] = [];
    for (const id of new Set(nuboIds)) {
      const cached = this.#ids.get(`${kind}:n:${id}`);
      if (cached === undefined) unknown.push(id);
      else out.set(id, cached);
    }
    if (unknown.length === 0) return out;
    const rows = await this.db.selectFrom('ec2_ids').select(['aws_id', 'nubo_id']).where('kind', '=', kind).where('nubo_id', 'in', unknown).execute();
    for (const r of rows) {
      this.#remember(kind, r.nubo_id, r.aws_id);
      out.set(r.nubo_id, r.aws_id);
    }
    return out;
  }

  /** The AWS ids of these resources, each made on first use: one read for those mapped already (DescribeInstances of many). */
  async awsIdsOf(kind: MappedKind, nuboIds: readonly string[]): Promise<string[]> {
    const mapped = await this.mappedAwsIdsOf(kind, nuboIds);
    return Promise.all(nuboIds.map(async (id) => mapped.get(id) ?? this.awsIdOf(kind, id)));
  }

  async nuboIdOf(kind: MappedKind, awsId: string): Promise<string | undefined> {
    const cached = this.#ids.get(`${kind}:a:${awsId}`);
    if (cached !== undefined) return cached;
    const nuboId = (await this.db.selectFrom('ec2_ids').select('nubo_id').where('kind', '=', kind).where('aws_id', '=', awsId).executeTakeFirst())?.nubo_id;
    if (nuboId !== undefined) this.#remember(kind, nuboId, awsId);
    return nuboId;
  }

  // Key pairs.

  /** @returns false when the owner has a key pair of that name already */
  async addKeyPair(k: Omit<KeyPairRecord, 'createdAt'>): Promise<boolean> {
    try {
      await this.db.insertInto('ec2_key_pairs').values({ id: k.id, owner_id: k.ownerId, name: k.name, key_type: k.keyType, fingerprint: k.fingerprint, public_key: k.publicKey, created_at: this.now() }).execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async keyPairs(ownerId: string): Promise<KeyPairRecord[]> {
    const rows = await this.db.selectFrom('ec2_key_pairs').selectAll().where('owner_id', '=', ownerId).orderBy('name').execute();
    return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, name: r.name, keyType: r.key_type, fingerprint: r.fingerprint, publicKey: r.public_key, createdAt: r.created_at }));
  }

  async deleteKeyPair(ownerId: string, name: string): Promise<void> {
    await this.db.deleteFrom('ec2_key_pairs').where('owner_id', '=', ownerId).where('name', '=', name).execute();
  }

  // Security groups.

  /** @returns false when the owner has a group of that name already */
  async addSecurityGroup(g: Omit<SecurityGroupRecord, 'createdAt'>): Promise<boolean> {
    try {
      await this.db.insertInto('ec2_security_groups').values({ id: g.id, owner_id: g.ownerId, name: g.name, description: g.description, created_at: this.now() }).execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async securityGroups(ownerId: string): Promise<SecurityGroupRecord[]> {
    const rows = await this.db.selectFrom('ec2_security_groups').selectAll().where('owner_id', '=', ownerId).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, ownerId: r.owner_id, name: r.name, description: r.description, createdAt: r.created_at }));
  }

  async rules(groupId: string): Promise<IngressRule[]> {
    const rows = await this.db.selectFrom('ec2_security_group_rules').selectAll().where('group_id', '=', groupId).orderBy('protocol').orderBy('from_port').orderBy('cidr').execute();
    return rows.map((r) => ({ protocol: r.protocol, fromPort: r.from_port, toPort: r.to_port, cidr: r.cidr }));
  }

  /** @returns the rules that were there already (EC2 refuses a duplicate: nothing is added then) */
  async addRules(groupId: string, rules: readonly IngressRule[]): Promise<IngressRule[]> {
    return this.db.transaction().execute(async (tx) => {
      const have = await tx.selectFrom('ec2_security_group_rules').selectAll().where('group_id', '=', groupId).execute();
      const dup = rules.filter((r) => have.some((h) => h.protocol === r.protocol && h.from_port === r.fromPort && h.to_port === r.toPort && h.cidr === r.cidr));
      if (dup.length > 0 || rules.length === 0) return dup;
      await tx.insertInto('ec2_security_group_rules').values(rules.map((r) => ({ group_id: groupId, protocol: r.protocol, from_port: r.fromPort, to_port: r.toPort, cidr: r.cidr }))).execute();
      return [];
    });
  }

  /** @returns the rules that were not there (EC2 refuses those: nothing is removed then) */
  async removeRules(groupId: string, rules: readonly IngressRule[]): Promise<IngressRule[]> {
    return this.db.transaction().execute(async (tx) => {
      const have = await tx.selectFrom('ec2_security_group_rules').selectAll().where('group_id', '=', groupId).execute();
      const missing = rules.filter((r) => !have.some((h) => h.protocol === r.protocol && h.from_port === r.fromPort && h.to_port === r.toPort && h.cidr === r.cidr));
      if (missing.length > 0) return missing;
      for (const r of rules) {
        await tx.deleteFrom('ec2_security_group_rules').where('group_id', '=', groupId).where('protocol', '=', r.protocol)
          .where('from_port', '=', r.fromPort).where('to_port', '=', r.toPort).where('cidr', '=', r.cidr).execute();
      }
      return [];
    });
  }

  async deleteSecurityGroup(groupId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('ec2_security_group_rules').where('group_id', '=', groupId).execute();
      await tx.deleteFrom('ec2_security_groups').where('id', '=', groupId).execute();
    });
  }

  /**
   * Everything EC2 keeps of one launched instance, in one transaction: its
   * record and groups, its `i-` id, its tags, and the client token's list of
   * the reservation's VMs (`vmIds`, this one included). A crash leaves all
   * of it or none; one commit instead of four.
   * @returns the instance's `i-` id
   */
  async recordLaunch(ownerId: string, i: InstanceRecord, o: { groupIds: readonly string[]; tags: readonly Ec2Tag[]; clientToken?: LaunchProgress | undefined }): Promise<string> {
    const instanceId = await this.db.transaction().execute(async (tx) => {
      // A VM recorded already (a retried RunInstances resuming a launch another request of the token is still making) stays as it was recorded.
      await tx.insertInto('ec2_instances').values({ vm_id: i.vmId, owner_id: ownerId, reservation_id: i.reservationId, launch_index: i.launchIndex, instance_type: i.instanceType, key_name: i.keyName })
        .onConflict((oc) => oc.column('vm_id').doNothing()).execute();
      if (o.groupIds.length > 0) await tx.insertInto('ec2_instance_groups').values(o.groupIds.map((g) => ({ vm_id: i.vmId, group_id: g }))).onConflict((oc) => oc.columns(['vm_id', 'group_id']).doNothing()).execute();
      if (o.clientToken !== undefined) await tx.updateTable('ec2_client_tokens').set({ vm_ids: tokenVms(o.clientToken) }).where('owner_id', '=', ownerId).where('token', '=', o.clientToken.token).execute();
      // A VM made just now has no `i-` id yet (nothing else maps it before this commit).
      const found = await tx.selectFrom('ec2_ids').select('aws_id').where('kind', '=', 'instance').where('nubo_id', '=', i.vmId).executeTakeFirst();
      const instanceId = found?.aws_id ?? newEc2Id('instance');
      if (!found) await tx.insertInto('ec2_ids').values({ aws_id: instanceId, kind: 'instance', nubo_id: i.vmId, created_at: this.now() }).execute();
      if (o.tags.length > 0) {
        await tx.deleteFrom('ec2_tags').where('resource_id', '=', instanceId).where('key', 'in', o.tags.map((t) => t.key)).execute();
        await tx.insertInto('ec2_tags').values(o.tags.map((t) => ({ resource_id: instanceId, owner_id: ownerId, key: t.key, value: t.value }))).execute();
      }
      return instanceId;
    });
    this.#remember('instance', i.vmId, instanceId);
    return instanceId;
  }

  async instances(vmIds: readonly string[]): Promise<Map<string, InstanceRecord>> {
    if (vmIds.length === 0) return new Map();
    const rows = await this.db.selectFrom('ec2_instances').selectAll().where('vm_id', 'in', vmIds).execute();
    return new Map(rows.map((r) => [r.vm_id, { vmId: r.vm_id, reservationId: r.reservation_id, launchIndex: r.launch_index, instanceType: r.instance_type, keyName: r.key_name }]));
  }

  /** What describing these instances takes from EC2's tables, in one statement a slice (describe-facts.ts). */
  describeFacts(ownerId: string, vmIds: readonly string[], instanceIds: readonly string[]): Promise<DescribeFacts> {
    return readDescribeFacts(this.db, ownerId, vmIds, instanceIds, this.describeSlice);
  }

  async setInstanceType(vmId: string, instanceType: string): Promise<void> {
    await this.db.updateTable('ec2_instances').set({ instance_type: instanceType }).where('vm_id', '=', vmId).execute();
  }

  async setInstanceGroups(vmId: string, groupIds: readonly string[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('ec2_instance_groups').where('vm_id', '=', vmId).execute();
      if (groupIds.length > 0) await tx.insertInto('ec2_instance_groups').values(groupIds.map((g) => ({ vm_id: vmId, group_id: g }))).execute();
    });
  }

  async groupsOf(vmId: string): Promise<string[]> {
    return (await this.groupsOfEach([vmId])).get(vmId) ?? [];
  }

  /** The groups of each of these instances in one read (an instance in none has an empty list). */
  async groupsOfEach(vmIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(vmIds.map((id) => [id, []]));
    if (vmIds.length === 0) return out;
    const rows = await this.db.selectFrom('ec2_instance_groups').select(['vm_id', 'group_id']).where('vm_id', 'in', [...new Set(vmIds)]).orderBy('group_id').execute();
    for (const r of rows) out.get(r.vm_id)?.push(r.group_id);
    return out;
  }

  /** Every instance in a group: what the firewalls are worked out again for at start. */
  async instancesWithGroups(): Promise<string[]> {
    return (await this.db.selectFrom('ec2_instance_groups').select('vm_id').distinct().orderBy('vm_id').execute()).map((r) => r.vm_id);
  }

  async membersOf(groupId: string): Promise<string[]> {
    return (await this.db.selectFrom('ec2_instance_groups').select('vm_id').where('group_id', '=', groupId).execute()).map((r) => r.vm_id);
  }

  // Tags.

  /** Sets each tag on each resource (a key already there takes the new value), all or nothing. */
  async setTags(ownerId: string, resourceIds: readonly string[], tags: readonly Ec2Tag[]): Promise<void> {
    if (resourceIds.length === 0 || tags.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const resourceId of resourceIds) {
        await tx.deleteFrom('ec2_tags').where('resource_id', '=', resourceId).where('key', 'in', tags.map((t) => t.key)).execute();
        await tx.insertInto('ec2_tags').values(tags.map((t) => ({ resource_id: resourceId, owner_id: ownerId, key: t.key, value: t.value }))).execute();
      }
    });
  }

  /** Removes tags by key; a tag given with a value is removed only when it has that value (EC2's rule). */
  async deleteTags(ownerId: string, resourceIds: readonly string[], tags: readonly { key: string; value?: string | undefined }[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      for (const resourceId of resourceIds) {
        if (tags.length === 0) {
          await tx.deleteFrom('ec2_tags').where('owner_id', '=', ownerId).where('resource_id', '=', resourceId).execute();
          continue;
        }
        for (const t of tags) {
          let q = tx.deleteFrom('ec2_tags').where('owner_id', '=', ownerId).where('resource_id', '=', resourceId).where('key', '=', t.key);
          if (t.value !== undefined) q = q.where('value', '=', t.value);
          await q.execute();
        }
      }
    });
  }

  async tags(ownerId: string, resourceIds?: readonly string[]): Promise<TagRecord[]> {
    let q = this.db.selectFrom('ec2_tags').select(['resource_id', 'key', 'value']).where('owner_id', '=', ownerId);
    if (resourceIds !== undefined) {
      if (resourceIds.length === 0) return [];
      q = q.where('resource_id', 'in', resourceIds);
    }
    const rows = await q.orderBy('resource_id').orderBy('key').execute();
    return rows.map((r) => ({ resourceId: r.resource_id, key: r.key, value: r.value }));
  }

  // Client tokens (RunInstances' idempotency; the row is the journal of the request).

  /**
   * A token's reservation and the VMs made for it so far; `complete` once its launch ended (its last instance recorded,
   * or fewer than MaxCount made and the call answered). A token not complete was claimed by a call that is still
   * making its VMs or that stopped with the controller: a retry resumes it (RunInstances).
   */
  async clientToken(ownerId: string, token: string): Promise<ClientTokenRecord | undefined> {
    const row = await this.db.selectFrom('ec2_client_tokens').selectAll().where('owner_id', '=', ownerId).where('token', '=', token).executeTakeFirst();
    if (!row) return undefined;
    const vms = JSON.parse(row.vm_ids) as string[] | { vmIds: string[]; complete: boolean; params?: string };
    // A bare list: written before launches were resumable, by a call that ended (or stopped: nothing tells which).
    return Array.isArray(vms)
      ? { reservationId: row.reservation_id, vmIds: vms, complete: true, params: undefined }
      : { reservationId: row.reservation_id, vmIds: vms.vmIds, complete: vms.complete, params: vms.params };
  }

  /** @returns false when the token is taken (another request with it came first) */
  async claimClientToken(ownerId: string, token: string, reservationId: string, params: string): Promise<boolean> {
    try {
      await this.db.insertInto('ec2_client_tokens').values({ owner_id: ownerId, token, reservation_id: reservationId, vm_ids: tokenVms({ vmIds: [], complete: false, params }), created_at: this.now() }).execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** The token's launch ended with these VMs (fewer than MaxCount: the last one recorded did not say so). */
  async completeClientToken(ownerId: string, token: string, vmIds: readonly string[], params: string): Promise<void> {
    await this.db.updateTable('ec2_client_tokens').set({ vm_ids: tokenVms({ vmIds, complete: true, params }) }).where('owner_id', '=', ownerId).where('token', '=', token).execute();
  }

  async releaseClientToken(ownerId: string, token: string): Promise<void> {
    await this.db.deleteFrom('ec2_client_tokens').where('owner_id', '=', ownerId).where('token', '=', token).execute();
  }

  // ExportImage tasks.

  /** @returns the task this owner's client token already names (nothing written then), or the new one */
  async addExportTask(t: Omit<ExportImageTaskRecord, 'createdAt' | 'status' | 'statusMessage' | 'progress'>): Promise<{ task: ExportImageTaskRecord; created: boolean }> {
    const row = { id: t.id, owner_id: t.ownerId, client_token: t.clientToken, image_id: t.imageId, format: t.format, bucket: t.bucket, prefix: t.prefix, status: 'active', status_message: null, progress: 0, description: t.description, created_at: this.now() };
    try {
      await this.db.insertInto('ec2_export_image_tasks').values(row).execute();
      return { task: toExportTask(row), created: true };
    } catch (err) {
      if (!isUniqueViolation(err) || t.clientToken === null) throw err;
      const had = await this.db.selectFrom('ec2_export_image_tasks').selectAll().where('owner_id', '=', t.ownerId).where('client_token', '=', t.clientToken).executeTakeFirstOrThrow();
      return { task: toExportTask(had), created: false };
    }
  }

  async exportTasks(ownerId: string, ids?: readonly string[]): Promise<ExportImageTaskRecord[]> {
    if (ids !== undefined && ids.length === 0) return [];
    const rows = await this.db.selectFrom('ec2_export_image_tasks').selectAll().where('owner_id', '=', ownerId)
      .$if(ids !== undefined, (q) => q.where('id', 'in', ids!)).orderBy('created_at').orderBy('id').execute();
    return rows.map(toExportTask);
  }

  async setExportTask(id: string, patch: { status: string; progress: number; statusMessage: string | null }): Promise<void> {
    await this.db.updateTable('ec2_export_image_tasks').set({ status: patch.status, progress: patch.progress, status_message: patch.statusMessage }).where('id', '=', id).execute();
  }
}
