import type { QmpClient } from './qmp-client.js';
import type { DiskSpec } from '../vm-spec.js';
import { diskDevices } from './build-qemu-argv.js';
import type { WaitOptions } from '../../util/deadline.js';
import { diskNodes, type DiskNodes } from './qmp-disk-move.js';

/**
 * Hot-plugs a disk: file node, format node, then the guest device — the same
 * objects the command line uses. On failure, what was added is removed again,
 * so a failed attach leaves the VM as it was.
 */
export async function qmpHotplugDisk(qmp: QmpClient, disk: DiskSpec, opts: WaitOptions): Promise<void> {
  const { fileNode, formatNode, device } = diskDevices(disk, 0);
  const o = { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 };
  await qmp.executeUnchecked('blockdev-add', fileNode, o);
  try {
    await qmp.executeUnchecked('blockdev-add', formatNode, o);
    try {
      await qmp.executeUnchecked('device_add', device, o);
    } catch (err) {
      await qmp.execute('blockdev-del', { 'node-name': `d-${disk.id}` }).catch(() => {});
      throw err;
    }
  } catch (err) {
    await qmp.execute('blockdev-del', { 'node-name': `f-${disk.id}` }).catch(() => {});
    throw err;
  }
}

/**
 * Unplugs a disk. The guest must let go of the device first (ACPI hot-plug),
 * so QEMU's DEVICE_DELETED is awaited before the block nodes are removed.
 */
export async function qmpUnplugDisk(qmp: QmpClient, diskId: string, opts: WaitOptions, nodes: DiskNodes = diskNodes(diskId, false)): Promise<void> {
  const deleted = qmp.waitForEvent('DEVICE_DELETED', { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000, match: (e) => e.data['device'] === diskId });
  // Keep the waiter from turning into an unhandled rejection if device_del itself fails.
  deleted.catch(() => {});
  await qmp.execute('device_del', { id: diskId }, { signal: opts.signal, timeoutMs: 5_000 });
  await deleted;
  await qmp.execute('blockdev-del', { 'node-name': nodes.format }, { signal: opts.signal, timeoutMs: 5_000 });
  await qmp.execute('blockdev-del', { 'node-name': nodes.file }, { signal: opts.signal, timeoutMs: 5_000 });
}
