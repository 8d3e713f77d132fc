import type { DiskMove, DiskMoveOptions } from '../hypervisor.js';
import type { DriverDisks } from '../driver.js';
import { HypervisorError } from '../hypervisor-errors.js';
import { parseVmSpec, type DiskSpec, type VmSpec } from '../vm-spec.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { qmpHotplugDisk, qmpUnplugDisk } from './qmp-disk-hotplug.js';
import { diskNodes, qmpMoveDisk } from './qmp-disk-move.js';
import { qmpBackupDisk } from './qmp-disk-backup.js';
import type { QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';

/** Disk hot-plug, live storage migration (blockdev-mirror) and live backup over QMP; the record follows every change. */
export class QemuDisks implements DriverDisks {
  readonly #reg: QemuRegistry;

  constructor(reg: QemuRegistry) {
    this.#reg = reg;
  }

  async attach(vmId: string, disk: DiskSpec, opts: WaitOptions): Promise<void> {
    const vm = this.#reg.get(vmId);
    const next = parseVmSpec({ ...vm.record.spec, disks: [...vm.record.spec.disks, disk] });
    try {
      await qmpHotplugDisk(this.#reg.qmp(vm), disk, opt(opts, 10_000));
    } catch (err) {
      throw new HypervisorError(vmId, 'attach disk', errorMessage(err), { cause: err });
    }
    await this.#reg.setRecord(vm, { ...vm.record, spec: next });
    this.#reg.log.info({ vmId, diskId: disk.id }, 'disk attached');
  }

  async detach(vmId: string, diskId: string, opts: WaitOptions): Promise<void> {
    const vm = this.#reg.get(vmId);
    const spec = vm.record.spec;
    try {
      await qmpUnplugDisk(this.#reg.qmp(vm), diskId, opt(opts, 30_000), diskNodes(diskId, (vm.record.movedDisks ?? []).includes(diskId)));
    } catch (err) {
      throw new HypervisorError(vmId, 'detach disk', `the guest did not release ${diskId}: ${errorMessage(err)}`, { cause: err });
    }
    const next: VmSpec = parseVmSpec({ ...spec, disks: spec.disks.filter((d) => d.id !== diskId) });
    await this.#reg.setRecord(vm, { ...vm.record, spec: next, movedDisks: (vm.record.movedDisks ?? []).filter((d) => d !== diskId) });
    this.#reg.log.info({ vmId, diskId }, 'disk detached');
  }

  pathOf(vmId: string, diskId: string): string | undefined {
    return this.#reg.find(vmId)?.record.spec.disks.find((d) => d.id === diskId)?.path;
  }

  async move(vmId: string, diskId: string, move: DiskMove, opts: DiskMoveOptions): Promise<void> {
    const vm = this.#reg.get(vmId);
    const spec = vm.record.spec;
    const disk = spec.disks.find((d) => d.id === diskId);
    if (disk === undefined) throw new HypervisorError(vmId, 'disk move', `no disk ${diskId}`);
    const moved = new Set(vm.record.movedDisks ?? []);
    const alternate = moved.has(diskId);
    const direct = disk.cache === 'none' || disk.cache === 'directsync';
    try {
      await qmpMoveDisk(this.#reg.qmp(vm), {
        diskId,
        from: diskNodes(diskId, alternate),
        to: diskNodes(diskId, !alternate),
        path: move.path,
        format: disk.format,
        cache: { direct, 'no-flush': disk.cache === 'unsafe' },
        sync: move.sync,
        speed: move.speedBytes,
        onProgress: opts.onProgress,
      }, { signal: opts.signal, timeoutMs: opts.timeoutMs });
    } catch (err) {
      throw new HypervisorError(vmId, 'disk move', errorMessage(err), { cause: err });
    } finally {
      // Whatever happened after the pivot, the record must say which file and nodes the guest uses now.
      const nodes = await Promise.resolve().then(() => this.#reg.qmp(vm).execute('query-named-block-nodes', { flat: true }, opt({}, 5_000))).catch(() => undefined);
      const onNew = nodes?.some((n) => n['node-name'] === diskNodes(diskId, !alternate).format && n.file === move.path) === true
        && !nodes.some((n) => n['node-name'] === diskNodes(diskId, alternate).format);
      if (onNew) {
        if (alternate) moved.delete(diskId);
        else moved.add(diskId);
        const next = parseVmSpec({ ...spec, disks: spec.disks.map((d) => (d.id === diskId ? { ...d, path: move.path } : d)) });
        await this.#reg.setRecord(vm, { ...vm.record, spec: next, movedDisks: [...moved] });
        this.#reg.log.info({ vmId, diskId, path: move.path }, 'disk moved');
      }
    }
  }

  async backup(vmId: string, diskId: string, targetPath: string, opts: WaitOptions): Promise<void> {
    const vm = this.#reg.get(vmId);
    try {
      await qmpBackupDisk(this.#reg.qmp(vm), { diskId, source: diskNodes(diskId, (vm.record.movedDisks ?? []).includes(diskId)).format, path: targetPath }, opts);
    } catch (err) {
      throw new HypervisorError(vmId, 'disk backup', errorMessage(err), { cause: err });
    }
    this.#reg.log.info({ vmId, diskId, path: targetPath }, 'disk backed up');
  }
}
