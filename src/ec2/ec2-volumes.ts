import { randomBytes } from 'node:crypto';
import type { VolumeView } from '../contract/storage-schemas.js';
import { Ec2ApiError, invalidParameterValue, missingParameter } from './ec2-api-error.js';
import { nativeCall, type Ec2Handler } from './ec2-context.js';
import { clusterOfZoneParam } from './ec2-zone-param.js';
import { zoneOfCluster } from './ec2-zones.js';
import { DEFAULT_CLUSTER } from '../core/placement/cluster-fit.js';
import { checkFilters, pageOf, passesFilters } from './ec2-filters.js';
import { resolveInstances } from './ec2-instances.js';
import { resolveSnapshot } from './ec2-snapshot-view.js';
import { tagsFor } from './ec2-tag-specifications.js';
import { checkDevice, checkVolumeType, deviceOfSlot, MAX_VOLUME_GIB } from './ec2-volume-state.js';
import { describeVolumeList, listVolumes, resolveVolume, VOLUME_FILTERS, type NuboVolume } from './ec2-volume-view.js';

/**
 * EC2 volumes over nubo's volumes (`/api/v1/volumes`): CreateVolume makes a
 * record (the file is made on the host of its first attach), AttachVolume
 * hot-plugs it into a running guest (or adds it to a stopped instance's next
 * boot), DetachVolume unplugs it, DeleteVolume removes record and file. Every
 * action goes through the native API as the caller, so access and quotas are
 * the native API's. An instance's root disk is listed as a volume too, which
 * cannot be attached, detached or deleted on its own.
 */

export const createVolume: Ec2Handler = async (ctx, call) => {
  const zoneName = call.params.optional('AvailabilityZone');
  const zone = zoneName ?? call.params.optional('AvailabilityZoneId');
  if (zone === undefined) throw missingParameter('AvailabilityZone');
  // A zone is a cluster (ec2-zones.ts): the volume lives there, and only instances in it attach it.
  const cluster = await clusterOfZoneParam(ctx, call, zone, zoneName !== undefined ? 'AvailabilityZone' : 'AvailabilityZoneId');
  checkVolumeType(call.params.optional('VolumeType'));
  if (call.params.bool('Encrypted') === true) throw invalidParameterValue('Encrypted', 'nubo does not encrypt volumes');
  if (call.params.bool('MultiAttachEnabled') === true) throw invalidParameterValue('MultiAttachEnabled', 'a nubo volume is attached to one instance at a time');
  const snapshotId = call.params.optional('SnapshotId');
  const size = call.params.int('Size', { min: 1, max: MAX_VOLUME_GIB });
  const tags = tagsFor(call, 'volume');
  if (snapshotId !== undefined) {
    await resolveSnapshot(ctx, call, snapshotId, 'SnapshotId');
    throw invalidParameterValue('SnapshotId', `nubo cannot make a volume from a snapshot: ${snapshotId} is a qcow2 snapshot inside an instance's root disk, which can only be reverted to (native API: POST /api/v1/vms/{id}/snapshots/{name}/revert)`);
  }
  if (size === undefined) throw missingParameter('Size');
  const name = `ec2-${randomBytes(6).toString('hex')}`;
  const volume = await nativeCall<VolumeView>(ctx, call, 'POST', '/api/v1/volumes', { name, sizeMiB: size * 1024, cluster }, {
    quota: 'VolumeLimitExceeded', fields: { sizeMiB: 'Size', cluster: 'AvailabilityZone' },
  }).catch((err: unknown) => {
    throw (err as { code?: string }).code === 'DISK_CAPACITY' ? new Ec2ApiError('InsufficientVolumeCapacity', `No host in ${zoneOfCluster(cluster)} has room for a ${size} GiB volume`) : err;
  });
  const volumeId = await ctx.records.awsIdOf('volume', volume.id);
  await ctx.records.setTags(call.userId, [volumeId], tags);
  const [described] = await describeVolumeList(ctx, call, [{ kind: 'data', volumeId, volume }]);
  const { attachmentSet: _none, ...xml } = described!.xml;
  return xml;
};

export const describeVolumes: Ec2Handler = async (ctx, call) => {
  const ids = call.params.list('VolumeId');
  const max = call.params.int('MaxResults', { min: 5, max: 500 });
  if (ids.length > 0 && max !== undefined) throw new Ec2ApiError('InvalidParameterCombination', 'The parameter VolumeId cannot be used with the parameter MaxResults');
  const filters = call.params.filters();
  checkFilters(filters, VOLUME_FILTERS);
  const list = ids.length > 0 ? await Promise.all(ids.map((id) => resolveVolume(ctx, call, id))) : await listVolumes(ctx, call);
  const volumes = (await describeVolumeList(ctx, call, list)).filter((v) => passesFilters(filters, v.filterable));
  const { page, nextToken } = pageOf(volumes, (v) => v.volumeId, max, call.params.optional('NextToken'));
  return { volumeSet: page.map((v) => v.xml), nextToken };
};

function dataVolume(v: NuboVolume, verb: string): Extract<NuboVolume, { kind: 'data' }> {
  if (v.kind === 'root') throw new Ec2ApiError('OperationNotPermitted', `${v.volumeId} is the root volume of an instance; it cannot be ${verb} on its own`);
  return v;
}

export const deleteVolume: Ec2Handler = async (ctx, call) => {
  const v = await resolveVolume(ctx, call, call.params.required('VolumeId'));
  if (v.kind === 'root' || v.volume.vm !== null) throw new Ec2ApiError('VolumeInUse', `Volume ${v.volumeId} is currently attached to an instance`);
  await nativeCall(ctx, call, 'DELETE', `/api/v1/volumes/${v.volume.id}`, undefined, { notFound: 'InvalidVolume.NotFound', conflict: 'VolumeInUse' });
  await ctx.records.deleteTags(call.userId, [v.volumeId], []);
  return { return: true };
};

export const attachVolume: Ec2Handler = async (ctx, call) => {
  const device = call.params.required('Device');
  checkDevice(device);
  const v = await resolveVolume(ctx, call, call.params.required('VolumeId'));
  const instanceId = call.params.required('InstanceId');
  const [vm] = await resolveInstances(ctx, call, [instanceId]);
  if (!vm) throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
  if (v.kind === 'root' || v.volume.vm !== null) throw new Ec2ApiError('VolumeInUse', `${v.volumeId} is already attached to an instance`);
  if (vm.state !== 'running' && vm.state !== 'poweroff') {
    throw new Ec2ApiError('IncorrectInstanceState', `The instance '${instanceId}' is not 'running' or 'stopped' with its disks on its host (nubo state ${vm.state})`);
  }
  // AWS's rule: a volume attaches only to an instance in its own zone. Checked here, before anything changes (the native attach refuses it too).
  // A native volume made without a cluster and never attached is in no zone yet: it takes the instance's.
  const instanceZone = zoneOfCluster(vm.cluster ?? DEFAULT_CLUSTER);
  const volumeZone = v.volume.cluster === null ? instanceZone : zoneOfCluster(v.volume.cluster);
  if (instanceZone !== volumeZone) {
    throw new Ec2ApiError('InvalidVolume.ZoneMismatch', `The volume '${v.volumeId}' is not in the same availability zone as instance '${instanceId}' (${volumeZone}, ${instanceZone})`);
  }
  const after = await nativeCall<VolumeView>(ctx, call, 'POST', `/api/v1/vms/${vm.id}/volumes`, { volume: v.volume.id }, {
    notFound: 'InvalidVolume.NotFound', conflict: 'InvalidVolume.ZoneMismatch',
  });
  return { volumeId: v.volumeId, instanceId, device: deviceOfSlot(after.slot ?? 0), status: 'attached', attachTime: new Date().toISOString() };
};

/** DetachVolume: the guest lets go of the device (hot-unplug) or the stopped instance's spec drops it. `Force` is accepted and does the same: nubo has no forced unplug. */
export const detachVolume: Ec2Handler = async (ctx, call) => {
  const v = dataVolume(await resolveVolume(ctx, call, call.params.required('VolumeId')), 'detached');
  call.params.bool('Force');
  const device = call.params.optional('Device');
  if (v.volume.vm === null || v.volume.slot === null) throw new Ec2ApiError('IncorrectState', `Volume '${v.volumeId}' is in the 'available' state.`);
  const instanceId = await ctx.records.awsIdOf('instance', v.volume.vm);
  const asked = call.params.optional('InstanceId');
  if ((asked !== undefined && asked !== instanceId) || (device !== undefined && device !== deviceOfSlot(v.volume.slot))) {
    throw new Ec2ApiError('InvalidAttachment.NotFound', `Volume ${v.volumeId} is not attached to ${asked ?? instanceId} at ${device ?? 'that device'}`);
  }
  const at = deviceOfSlot(v.volume.slot);
  await nativeCall(ctx, call, 'DELETE', `/api/v1/vms/${v.volume.vm}/volumes/${v.volume.id}`, undefined, { notFound: 'InvalidVolume.NotFound' });
  return { volumeId: v.volumeId, instanceId, device: at, status: 'detached', attachTime: v.volume.createdAt };
};
