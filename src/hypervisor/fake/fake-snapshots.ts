import type { DriverSnapshots } from '../driver.js';
import { DiskSnapshotExistsError, DiskSnapshotNotFoundError, type DiskSnapshot } from '../disk-snapshot.js';
import { fakeUptimeMs, type FakeHost, type FakeVm } from './fake-host.js';

/** Disk snapshots of the fake, kept in the FakeHost by disk file, as qcow2 keeps them in the file. */
export class FakeSnapshots implements DriverSnapshots {
  readonly #vms: { get(vmId: string): FakeVm };
  readonly #host: FakeHost;

  constructor(vms: { get(vmId: string): FakeVm }, host: FakeHost) {
    this.#vms = vms;
    this.#host = host;
  }

  async create(vmId: string, diskId: string, name: string): Promise<DiskSnapshot> {
    const { vm, path, list } = this.#of(vmId, diskId);
    if (list.some((x) => x.name === name)) throw new DiskSnapshotExistsError(name);
    const id = String(Math.max(0, ...list.map((x) => Number(x.id))) + 1);
    const snap: DiskSnapshot = { name, id, createdAt: new Date().toISOString(), vmClockSec: Math.floor(fakeUptimeMs(vm) / 1000) };
    this.#host.diskSnapshots.set(path, [...list, snap]);
    return snap;
  }

  async list(vmId: string, diskId: string): Promise<DiskSnapshot[]> {
    return [...this.#of(vmId, diskId).list];
  }

  async delete(vmId: string, diskId: string, name: string): Promise<void> {
    const { path, list } = this.#of(vmId, diskId);
    if (!list.some((x) => x.name === name)) throw new DiskSnapshotNotFoundError(name);
    this.#host.diskSnapshots.set(path, list.filter((x) => x.name !== name));
  }

  #of(vmId: string, diskId: string): { vm: FakeVm; path: string; list: readonly DiskSnapshot[] } {
    const vm = this.#vms.get(vmId);
    const path = vm.spec.disks.find((d) => d.id === diskId)?.path ?? '';
    return { vm, path, list: this.#host.diskSnapshots.get(path) ?? [] };
  }
}
