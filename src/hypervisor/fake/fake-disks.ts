import { copyFile } from 'node:fs/promises';
import type { DriverDisks } from '../driver.js';
import { parseVmSpec, type DiskSpec } from '../vm-spec.js';
import type { FakeVm } from './fake-host.js';

/** Disk hot-plug and backup of the fake: the spec changes, a backup copies the file as it is (no guest, no point in time to keep). */
export class FakeDisks implements DriverDisks {
  readonly #vms: { get(vmId: string): FakeVm };
  readonly #realFiles: boolean;

  constructor(vms: { get(vmId: string): FakeVm }, realFiles: boolean) {
    this.#vms = vms;
    this.#realFiles = realFiles;
  }

  async attach(vmId: string, disk: DiskSpec): Promise<void> {
    const vm = this.#vms.get(vmId);
    vm.spec = parseVmSpec({ ...vm.spec, disks: [...vm.spec.disks, disk] });
  }

  async detach(vmId: string, diskId: string): Promise<void> {
    const vm = this.#vms.get(vmId);
    vm.spec = parseVmSpec({ ...vm.spec, disks: vm.spec.disks.filter((d) => d.id !== diskId) });
  }

  async backup(vmId: string, diskId: string, targetPath: string): Promise<void> {
    const disk = this.#vms.get(vmId).spec.disks.find((d) => d.id === diskId);
    if (disk === undefined || !this.#realFiles) return;
    await copyFile(disk.path, targetPath);
  }
}
