import type { QmpClient } from './qmp-client.js';
import type { WaitOptions } from '../../util/deadline.js';
import { ValidationError } from '../../errors/validation-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { HypervisorError } from '../hypervisor-errors.js';
import { DiskSnapshotExistsError, DiskSnapshotNotFoundError, parseSnapshotInfos, type DiskSnapshot } from '../disk-snapshot.js';
import { BlockNodeMissingError, QemuReportMissingError } from './qemu-errors.js';

/*
 * qcow2 internal snapshots of a running VM's disk, through QMP on the disk's
 * format node (`d-<diskId>`, or its alternate after a disk move). QEMU drains
 * the disk's I/O around each operation, so the guest runs on; what the guest
 * still holds in its own page cache is the guest's business, as on a power
 * cut. Names are checked against the node's own list first, for typed errors
 * instead of QEMU's texts. Which disks can hold snapshots: device-checks.ts.
 */

const o = (opts: WaitOptions, timeoutMs: number): WaitOptions => ({ signal: opts.signal, timeoutMs: opts.timeoutMs ?? timeoutMs });

/** QMP and transport failures become the driver's HypervisorError; nubo's typed errors pass as they are. */
async function mapped<T>(vmId: string, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DiskSnapshotExistsError || err instanceof DiskSnapshotNotFoundError || err instanceof ValidationError) throw err;
    throw new HypervisorError(vmId, operation, errorMessage(err), { cause: err });
  }
}

async function list(qmp: QmpClient, node: string, opts: WaitOptions): Promise<DiskSnapshot[]> {
  const nodes = (await qmp.executeUnchecked('query-named-block-nodes', { flat: true }, o(opts, 10_000))) as { 'node-name'?: string; image?: { snapshots?: unknown } }[];
  const n = nodes.find((x) => x['node-name'] === node);
  if (n === undefined) throw new BlockNodeMissingError(node);
  return parseSnapshotInfos(n.image?.snapshots);
}

export function qmpListDiskSnapshots(qmp: QmpClient, vmId: string, node: string, opts: WaitOptions = {}): Promise<DiskSnapshot[]> {
  return mapped(vmId, 'list disk snapshots', () => list(qmp, node, opts));
}

/** Takes the snapshot (`blockdev-snapshot-internal-sync`) and returns it as the file now lists it. */
export function qmpCreateDiskSnapshot(qmp: QmpClient, vmId: string, node: string, name: string, opts: WaitOptions = {}): Promise<DiskSnapshot> {
  return mapped(vmId, 'disk snapshot', async () => {
    if ((await list(qmp, node, opts)).some((s) => s.name === name)) throw new DiskSnapshotExistsError(name);
    await qmp.executeUnchecked('blockdev-snapshot-internal-sync', { device: node, name }, o(opts, 120_000));
    const made = (await list(qmp, node, opts)).find((s) => s.name === name);
    if (made === undefined) throw new QemuReportMissingError('snapshot', `QEMU took snapshot ${name} but does not list it`);
    return made;
  });
}

/** Deletes the snapshot by name only (`blockdev-snapshot-delete-internal-sync` without `id`: no id can be mistaken for it). */
export function qmpDeleteDiskSnapshot(qmp: QmpClient, vmId: string, node: string, name: string, opts: WaitOptions = {}): Promise<void> {
  return mapped(vmId, 'delete disk snapshot', async () => {
    if (!(await list(qmp, node, opts)).some((s) => s.name === name)) throw new DiskSnapshotNotFoundError(name);
    await qmp.executeUnchecked('blockdev-snapshot-delete-internal-sync', { device: node, name }, o(opts, 120_000));
  });
}
