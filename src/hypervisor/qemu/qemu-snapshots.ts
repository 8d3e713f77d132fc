import type { DriverSnapshots } from '../driver.js';
import type { DiskSnapshot } from '../disk-snapshot.js';
import type { WaitOptions } from '../../util/deadline.js';
import { diskNodes } from './qmp-disk-move.js';
import { qmpCreateDiskSnapshot, qmpDeleteDiskSnapshot, qmpListDiskSnapshots } from './qmp-disk-snapshot.js';
import type { QemuRegistry } from './qemu-registry.js';

/** qcow2 internal snapshots of a running VM's disk, on the disk's format node. */
export class QemuSnapshots implements DriverSnapshots {
  readonly #reg: QemuRegistry;

  constructor(reg: QemuRegistry) {
    this.#reg = reg;
  }

  async create(vmId: string, diskId: string, name: string, opts: WaitOptions): Promise<DiskSnapshot> {
    const snap = await qmpCreateDiskSnapshot(this.#qmp(vmId), vmId, this.#node(vmId, diskId), name, opts);
    this.#reg.log.info({ vmId, diskId, snapshot: name }, 'disk snapshot taken');
    return snap;
  }

  async list(vmId: string, diskId: string, opts: WaitOptions): Promise<DiskSnapshot[]> {
    return qmpListDiskSnapshots(this.#qmp(vmId), vmId, this.#node(vmId, diskId), opts);
  }

  async delete(vmId: string, diskId: string, name: string, opts: WaitOptions): Promise<void> {
    await qmpDeleteDiskSnapshot(this.#qmp(vmId), vmId, this.#node(vmId, diskId), name, opts);
    this.#reg.log.info({ vmId, diskId, snapshot: name }, 'disk snapshot deleted');
  }

  #qmp(vmId: string): ReturnType<QemuRegistry['qmp']> {
    return this.#reg.qmp(this.#reg.get(vmId));
  }

  /** The format node the disk's snapshots are in now (a disk move alternates its node names). */
  #node(vmId: string, diskId: string): string {
    return diskNodes(diskId, (this.#reg.get(vmId).record.movedDisks ?? []).includes(diskId)).format;
  }
}
