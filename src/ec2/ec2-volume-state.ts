import { MAX_VOLUME_MIB } from '../core/volume-name.js';
import { invalidParameterValue } from './ec2-api-error.js';

/** EC2's volume states; nubo's volumes are records that exist at once, so `creating` and `deleting` are never seen between calls. */
export type Ec2VolumeStatus = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted';
export type Ec2AttachmentStatus = 'attaching' | 'attached' | 'detaching' | 'detached';

/** The root disk of an instance is shown as a volume of its own; its id maps to this nubo id (native volume ids are UUIDs, so they never clash). */
export const ROOT_VOLUME_PREFIX = 'root:';
export const ROOT_DEVICE = '/dev/vda';

/**
 * EC2's volume types all map to nubo's one kind of volume — a qcow2 file in
 * the local datastore of the host it is first attached on — so each is
 * accepted and the volume is described as `standard`.
 */
export const VOLUME_TYPES: readonly string[] = ['standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1'];
export const MAX_VOLUME_GIB = Math.floor(MAX_VOLUME_MIB / 1024);

/** A native volume's state (`available` / `attached`) as EC2's volume status. */
export function volumeStatusOf(nuboState: 'available' | 'attached'): Ec2VolumeStatus {
  return nuboState === 'attached' ? 'in-use' : 'available';
}

/**
 * The device name EC2 shows for the volume in a VM's slot: `/dev/sdf` on, the
 * range AWS suggests for data volumes. The guest sees virtio disks named by
 * its kernel (`vdb`, `vdc`… in slot order), whatever name the caller asked for.
 */
export function deviceOfSlot(slot: number): string {
  return `/dev/sd${String.fromCharCode('f'.charCodeAt(0) + slot)}`;
}

/** AttachVolume's `Device`: a Linux disk name that is not the root device (the request's device is a label here, as on Xen/Nitro). */
export function checkDevice(device: string): void {
  if (!/^\/dev\/(?:sd|xvd|vd)[a-z][a-z]?$/.test(device)) throw invalidParameterValue('Device', `${JSON.stringify(device)} is not a device name such as /dev/sdf or /dev/xvdf`);
  if (/^\/dev\/(?:sd|xvd|vd)a$/.test(device)) throw invalidParameterValue('Device', `${device} is the root device`);
}

/** CreateVolume's `VolumeType`, checked. */
export function checkVolumeType(type: string | undefined): void {
  if (type !== undefined && !VOLUME_TYPES.includes(type)) throw invalidParameterValue('VolumeType', `${JSON.stringify(type)} is not one of ${VOLUME_TYPES.join(', ')}`);
}

/** Whole GiB as EC2 reports a size: a native volume of a few MiB is 1 GiB. */
export function gibOf(mib: number): number {
  return Math.max(1, Math.ceil(mib / 1024));
}
