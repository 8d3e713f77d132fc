import { sql, type Kysely } from 'kysely';
import type { Ec2Tables, InstanceRecord, SecurityGroupRecord, TagRecord } from './ec2-records.js';

/** What describing instances takes from EC2's tables (Ec2Records.describeFacts). */
export interface DescribeFacts {
  readonly records: Map<string, InstanceRecord>;
  /** Each instance's groups (an instance in none: an empty list). */
  readonly groups: Map<string, SecurityGroupRecord[]>;
  readonly tags: TagRecord[];
}

/** How many instances one statement of readDescribeFacts reads (about three parameters each). */
export const DESCRIBE_SLICE = 2_000;

interface DescribeRow { k: string; a: string; b: string; c: string | null; d: string | null; e: string | null; n: number | null }

/**
 * What describing these instances takes from EC2's tables, in one statement: each one's record, its security groups
 * (the owner's, in id order) and the tags of `instanceIds` (its `i-` ids, in key order). The reads were four — the
 * records, the group ids, then the owner's groups and the tags — two of them one after the other: a poll of one
 * instance (the SDK's waiters, the EC2 bench) paid for four statements' overhead where one does.
 */
export async function readDescribeFacts(db: Kysely<Ec2Tables>, ownerId: string, vmIds: readonly string[], instanceIds: readonly string[], slice = DESCRIBE_SLICE): Promise<DescribeFacts> {
  const out: DescribeFacts = { records: new Map(), groups: new Map(vmIds.map((id) => [id, []])), tags: [] };
  const vms = [...new Set(vmIds)];
  const iids = [...new Set(instanceIds)];
  // In slices: each id is a bound parameter (each VM's twice), and SQLite takes at most 32,766 of them a statement.
  for (let at = 0; at < Math.max(vms.length, iids.length); at += slice) {
    for (const r of await describeRows(db, ownerId, vms.slice(at, at + slice), iids.slice(at, at + slice))) {
      if (r.k === 'i') out.records.set(r.a, { vmId: r.a, reservationId: r.b, launchIndex: Number(r.n), instanceType: r.c ?? '', keyName: r.d });
      else if (r.k === 'g') out.groups.get(r.a)?.push({ id: r.b, ownerId, name: r.c ?? '', description: r.d ?? '', createdAt: r.e ?? '' });
      else out.tags.push({ resourceId: r.a, key: r.b, value: r.c ?? '' });
    }
  }
  for (const gs of out.groups.values()) gs.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  out.tags.sort((x, y) => (x.resourceId < y.resourceId ? -1 : x.resourceId > y.resourceId ? 1 : x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return out;
}

/** One statement of describeFacts; one row shape for the three kinds (k): i = a record, g = a group of an instance, t = a tag. */
async function describeRows(db: Kysely<Ec2Tables>, ownerId: string, vmIds: readonly string[], instanceIds: readonly string[]): Promise<DescribeRow[]> {
  const parts = [];
  if (vmIds.length > 0) {
    const vms = sql.join(vmIds);
    parts.push(sql`SELECT 'i' AS k, vm_id AS a, reservation_id AS b, instance_type AS c, key_name AS d, CAST(NULL AS TEXT) AS e, launch_index AS n FROM ec2_instances WHERE vm_id IN (${vms})`);
    parts.push(sql`SELECT 'g' AS k, ig.vm_id AS a, sg.id AS b, sg.name AS c, sg.description AS d, sg.created_at AS e, CAST(NULL AS INTEGER) AS n
      FROM ec2_instance_groups ig JOIN ec2_security_groups sg ON sg.id = ig.group_id AND sg.owner_id = ${ownerId} WHERE ig.vm_id IN (${vms})`);
  }
  if (instanceIds.length > 0) {
    // Every part names its columns: the first one's names are the statement's, and a slice may hold tags only.
    parts.push(sql`SELECT 't' AS k, resource_id AS a, key AS b, value AS c, CAST(NULL AS TEXT) AS d, CAST(NULL AS TEXT) AS e, CAST(NULL AS INTEGER) AS n FROM ec2_tags WHERE owner_id = ${ownerId} AND resource_id IN (${sql.join(instanceIds)})`);
  }
  if (parts.length === 0) return [];
  return (await sql<DescribeRow>`${sql.join(parts, sql` UNION ALL `)}`.execute(db)).rows;
}
