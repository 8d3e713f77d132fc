import { randomBytes } from 'node:crypto';
import type { SnapshotView } from '../contract/snapshot-schemas.js';
import type { VmView } from '../contract/vm-schemas.js';
import { Ec2ApiError, invalidParameterValue } from './ec2-api-error.js';
import { nativeCall, type Ec2Call, type Ec2Context, type Ec2Handler } from './ec2-context.js';
import { checkFilters, pageOf, passesFilters } from './ec2-filters.js';
import { resolveSnapshot, snapshotsOf, SNAPSHOT_STATES, type NuboSnapshot } from './ec2-snapshot-view.js';
import { tagsFor } from './ec2-tag-specifications.js';
import { rootVolumeIdOf, resolveVolume } from './ec2-volume-view.js';
import type { XmlObject } from './ec2-xml.js';

/**
 * EC2 snapshots over nubo's disk snapshots: qcow2 internal snapshots inside
 * an instance's disk file (`/api/v1/vms/{id}/snapshots`). So a snapshot is
 * of an instance's root volume only (nubo has no snapshots of data volumes),
 * is `completed` as soon as it is taken, lives and dies with that disk, and
 * can be reverted to but not made into a new volume. A `snap-` id maps to
 * `{vmId}/{snapshot name}`; snapshots taken through the native API get ids
 * when first described.
 */

export const SNAPSHOT_FILTERS = ['snapshot-id', 'volume-id', 'status', 'owner-id', 'progress', 'start-time', 'volume-size', 'encrypted'];

async function snapshotXml(ctx: Ec2Context, call: Ec2Call, s: NuboSnapshot, ownerId: string, description = ''): Promise<{ xml: XmlObject; fields: Record<string, string[]>; tags: Map<string, string> }> {
  const volumeId = await rootVolumeIdOf(ctx, s.vm.id);
  const tags = new Map((await ctx.records.tags(call.userId, [s.snapshotId])).map((t) => [t.key, t.value]));
  const startTime = s.snapshot?.createdAt ?? s.vm.updatedAt;
  const xml: XmlObject = {
    snapshotId: s.snapshotId, volumeId, status: 'completed', startTime, progress: '100%', ownerId,
    description: description === '' ? `nubo disk snapshot ${s.name} of instance ${await ctx.records.awsIdOf('instance', s.vm.id)}` : description,
    encrypted: false, storageTier: 'standard', tagSet: [...tags].map(([key, value]) => ({ key, value })),
  };
  const fields = { 'snapshot-id': [s.snapshotId], 'volume-id': [volumeId], status: ['completed'], 'owner-id': [ownerId], progress: ['100%'], 'start-time': [startTime], 'volume-size': [], encrypted: ['false'] };
  return { xml, fields, tags };
}

/** CreateSnapshot: a disk snapshot of the instance whose root volume `VolumeId` is (running, stopped with its disk on its host, or suspended). */
export const createSnapshot: Ec2Handler = async (ctx, call) => {
  const v = await resolveVolume(ctx, call, call.params.required('VolumeId'));
  const description = call.params.optional('Description') ?? '';
  if (description.length > 255) throw invalidParameterValue('Description', `at most 255 characters, this one ${description.length}`);
  const tags = tagsFor(call, 'snapshot');
  if (v.kind === 'data') {
    throw invalidParameterValue('VolumeId', `${v.volumeId} is a data volume: nubo's snapshots are qcow2 snapshots inside an instance's own disk, so only an instance's root volume can be snapshotted (see DescribeVolumes, attachment.device ${'/dev/vda'})`);
  }
  if (!SNAPSHOT_STATES.includes(v.vm.state)) throw new Ec2ApiError('IncorrectState', `The root volume ${v.volumeId} cannot be snapshotted while its instance is in nubo state ${v.vm.state}`);
  const name = `ec2-${randomBytes(6).toString('hex')}`;
  const snapshot = await nativeCall<SnapshotView>(ctx, call, 'POST', `/api/v1/vms/${v.vm.id}/snapshots`, { name }, { notFound: 'InvalidVolume.NotFound', quota: 'SnapshotLimitExceeded' })
    .catch((err: unknown) => {
      throw err instanceof Ec2ApiError && err.awsCode === 'IncorrectInstanceState' ? new Ec2ApiError('IncorrectState', err.message) : err;
    });
  const snapshotId = await ctx.records.awsIdOf('snapshot', `${v.vm.id}/${name}`);
  await ctx.records.setTags(call.userId, [snapshotId], tags);
  const me = await nativeCall<{ id: string }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  return (await snapshotXml(ctx, call, { snapshotId, vm: v.vm, name, snapshot }, me.id, description)).xml;
};

/** DescribeSnapshots: the disk snapshots of the caller's instances whose disks are on their hosts (a stopped instance's are listed again after it starts). */
export const describeSnapshots: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('SnapshotId');
  const owners = call.params.list('Owner');
  call.params.list('RestorableBy');
  const max = call.params.int('MaxResults', { min: 5, max: 1000 });
  if (ids.length > 0 && max !== undefined) throw new Ec2ApiError('InvalidParameterCombination', 'The parameter SnapshotId cannot be used with the parameter MaxResults');
  const filters = call.params.filters();
  checkFilters(filters, SNAPSHOT_FILTERS);
  const me = await nativeCall<{ id: string; name: string }>(ctx, call, 'GET', '/api/v1/users/me', undefined);
  // Every snapshot a caller sees is of an instance they see; `self` and their own account id are theirs, anyone else's (amazon…) none.
  const ownerOk = owners.length === 0 || owners.some((o) => o === 'self' || o === me.id || o === me.name);
  let list: NuboSnapshot[] = [];
  if (ids.length > 0) list = await Promise.all(ids.map((id) => resolveSnapshot(ctx, call, id)));
  else if (ownerOk) {
    const vms = (await nativeCall<VmView[]>(ctx, call, 'GET', '/api/v1/vms', undefined)).filter((vm) => SNAPSHOT_STATES.includes(vm.state));
    for (const vm of vms) {
      for (const s of await snapshotsOf(ctx, call, vm)) list.push({ snapshotId: await ctx.records.awsIdOf('snapshot', `${vm.id}/${s.name}`), vm, name: s.name, snapshot: s });
    }
  }
  if (!ownerOk) list = [];
  const described = [];
  for (const s of list) {
    const d = await snapshotXml(ctx, call, s, me.id);
    if (passesFilters(filters, { fields: d.fields, tags: d.tags })) described.push({ id: s.snapshotId, xml: d.xml });
  }
  const { page, nextToken } = pageOf(described, (d) => d.id, max, call.params.optional('NextToken'));
  return { snapshotSet: page.map((d) => d.xml), nextToken };
};

export const deleteSnapshot: Ec2Handler = async (ctx, call) => {
  const s = await resolveSnapshot(ctx, call, call.params.required('SnapshotId'));
  if (!SNAPSHOT_STATES.includes(s.vm.state)) throw new Ec2ApiError('IncorrectState', `The snapshot ${s.snapshotId} cannot be deleted while its instance is in nubo state ${s.vm.state}`);
  await nativeCall(ctx, call, 'DELETE', `/api/v1/vms/${s.vm.id}/snapshots/${s.name}`, undefined, { notFound: 'InvalidSnapshot.NotFound' });
  await ctx.records.deleteTags(call.userId, [s.snapshotId], []);
  return { return: true };
};
