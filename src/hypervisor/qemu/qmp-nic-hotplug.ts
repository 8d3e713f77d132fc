import type { QmpClient } from './qmp-client.js';
import { QmpError } from './qmp-error.js';
import type { NicSpec } from '../vm-spec.js';
import { nicDevices } from './build-qemu-argv.js';
import type { WaitOptions } from '../../util/deadline.js';

/**
 * Hot-plugs a NIC: its backend (`netdev_add`, for a TAP the one the driver
 * made), then the guest device — the same objects the command line uses. If
 * the device cannot be added the backend is removed again, so a failed
 * attach leaves the VM as it was.
 */
export async function qmpHotplugNic(qmp: QmpClient, nic: NicSpec, accel: 'kvm' | 'tcg', opts: WaitOptions): Promise<void> {
  const { netdev, device } = nicDevices(nic, accel);
  const o = { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 };
  await qmp.execute('netdev_add', netdev, o);
  try {
    await qmp.execute('device_add', device, o);
  } catch (err) {
    await qmp.execute('netdev_del', { id: netdev.id }).catch(() => {});
    throw err;
  }
}

/**
 * Unplugs a NIC. The guest must let go of the device first (ACPI hot-plug),
 * so QEMU's DEVICE_DELETED is awaited before the backend is removed. A retry
 * after a timeout finds the unplug already requested (or done) and goes on
 * from there.
 */
export async function qmpUnplugNic(qmp: QmpClient, nicId: string, opts: WaitOptions): Promise<void> {
  const deleted = qmp.waitForEvent('DEVICE_DELETED', { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000, match: (e) => e.data['device'] === nicId });
  // Keep the waiter from turning into an unhandled rejection if device_del itself fails.
  deleted.catch(() => {});
  let gone = false;
  try {
    await qmp.execute('device_del', { id: nicId }, { signal: opts.signal, timeoutMs: 5_000 });
  } catch (err) {
    if (!(err instanceof QmpError)) throw err;
    if (err.errorClass === 'DeviceNotFound') gone = true;
    else if (!/in the process of unplug/i.test(err.desc)) throw err;
  }
  if (!gone) await deleted;
  try {
    await qmp.execute('netdev_del', { id: `n-${nicId}` }, { signal: opts.signal, timeoutMs: 5_000 });
  } catch (err) {
    // Already removed by an earlier, interrupted unplug.
    if (!(err instanceof QmpError && /not found/i.test(err.desc))) throw err;
  }
}
