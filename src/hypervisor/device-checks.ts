import { ValidationError } from '../errors/validation-error.js';
import type { DiskMove } from './hypervisor.js';
import type { DiskSpec, VmSpec } from './vm-spec.js';

/*
 * The rules a disk operation on a running VM must pass before any driver is
 * asked: checked once, in RuntimeHypervisor, so every driver refuses the same
 * request with the same field. (NICs: nic-conflicts.ts.)
 */

/** A disk to hot-plug: a bus that can be hot-plugged (SCSI only where the VM has a controller) and a free device id. */
export function checkDiskAttach(spec: VmSpec, disk: DiskSpec): void {
  if (disk.bus === 'ide') throw new ValidationError('disk spec', [{ field: 'bus', message: 'IDE disks cannot be hot-plugged; use virtio or scsi' }]);
  if (disk.bus === 'scsi' && !spec.disks.some((d) => d.bus === 'scsi')) {
    throw new ValidationError('disk spec', [{ field: 'bus', message: 'this VM has no SCSI controller; use virtio' }]);
  }
  if (spec.disks.some((d) => d.id === disk.id) || spec.nics.some((n) => n.id === disk.id) || disk.id === 'cidata') {
    throw new ValidationError('disk spec', [{ field: 'id', message: `device id ${disk.id} is already in use on VM ${spec.id}` }]);
  }
}

/** The disk `diskId` of the VM; a ValidationError on `diskId` (for `what`) when it has none. */
export function diskOf(spec: VmSpec, diskId: string, what: string): DiskSpec {
  const disk = spec.disks.find((d) => d.id === diskId);
  if (disk === undefined) throw new ValidationError(what, [{ field: 'diskId', message: `VM ${spec.id} has no disk ${diskId}` }]);
  return disk;
}

/** A disk to move: writable (a read-only one has nothing to mirror) and not already at the target. */
export function checkDiskMove(spec: VmSpec, diskId: string, move: DiskMove): void {
  const disk = diskOf(spec, diskId, 'disk move');
  if (disk.readOnly) throw new ValidationError('disk move', [{ field: 'diskId', message: `disk ${diskId} is read-only; there is nothing to mirror` }]);
  if (move.path === disk.path) throw new ValidationError('disk move', [{ field: 'path', message: `disk ${diskId} is already at ${move.path}` }]);
}

/** A disk that can hold internal snapshots: a writable qcow2 disk of the VM. */
export function checkSnapshotDisk(spec: VmSpec, diskId: string): void {
  const disk = spec.disks.find((d) => d.id === diskId);
  const refuse = (message: string): ValidationError => new ValidationError('disk snapshot', [{ field: 'diskId', message }]);
  if (disk === undefined) throw refuse(`VM ${spec.id} has no disk ${diskId}`);
  if (disk.format !== 'qcow2') throw refuse(`disk ${diskId} is ${disk.format}: only qcow2 disks hold snapshots`);
  if (disk.readOnly) throw refuse(`disk ${diskId} is read-only`);
}
