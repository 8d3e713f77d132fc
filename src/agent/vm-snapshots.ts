import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError, VmStateError } from '../hypervisor/hypervisor-errors.js';
import { DiskSnapshotExistsError, DiskSnapshotNotFoundError, type DiskSnapshot } from '../hypervisor/disk-snapshot.js';
import { NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { snapshotNameProblem } from '../core/snapshot-name.js';
import { createFileSnapshot, deleteFileSnapshot, listFileSnapshots, revertFileSnapshot } from '../storage/qcow2-snapshots.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { VmHost } from './vm-host.js';

/** The disk whose snapshots these are: the VM's own (volumes are disks of their own and have none through this API). */
const DISK_ID = 'root';

/** qemu-img reported a snapshot taken but does not list it: the disk's snapshot table is not what it said. */
export class SnapshotNotListedError extends NuboError {
  readonly code = 'SNAPSHOT_NOT_LISTED';
  constructor(readonly vmId: string, readonly snapshot: string) {
    super(`qemu-img took snapshot ${snapshot} but does not list it`, { vmId, snapshot });
  }
}

/** What the snapshot operations use of the VM (handed over with its lock held). */
type SnapshotVm = Pick<VmHost, 'vmId' | 'hypervisor' | 'logger' | 'report' | 'readSpec' | 'files'>;

/** Through QEMU while it has the disk open (running, paused); with qemu-img on the file while nothing does. */
type Access = { readonly kind: 'qemu'; readonly hv: NonNullable<Hypervisor['snapshots']> } | { readonly kind: 'file'; readonly diskPath: string };

/** The VM's disk file, in whichever datastore it is. */
async function diskPathOf(host: SnapshotVm): Promise<string> {
  return host.files(await host.readSpec()).disk;
}

async function access(host: SnapshotVm, action: string, atRest: readonly string[], live: boolean): Promise<Access> {
  const cur = await host.report();
  // A destination's disk is being written by the migration; the VM is the source's until the commit.
  if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId: host.vmId }, 'in-migration', `cannot ${action}: it is the destination of migration ${cur.incomingMigrationId}`);
  if (live && (cur.state === 'running' || cur.state === 'paused')) {
    const hv = host.hypervisor;
    if (!hv.snapshots) throw new UnsupportedError('disk snapshots', `the ${hv.kind} driver cannot snapshot the disk of a running VM`);
    return { kind: 'qemu', hv: hv.snapshots };
  }
  if (atRest.includes(cur.state)) return { kind: 'file', diskPath: await diskPathOf(host) };
  const allowed = [...(live ? ['running', 'paused'] : []), ...atRest].join(', ');
  const hint = cur.state === 'suspended' ? 'its saved memory would not match the reverted disk' : `allowed when ${allowed}`;
  throw new VmStateError(host.vmId, action, cur.state, hint);
}

function checkName(name: string): void {
  const problem = snapshotNameProblem(name);
  if (problem !== undefined) throw new ValidationError('snapshot', [{ field: 'name', message: problem }]);
}

const wait = (signal: AbortSignal | undefined): { signal?: AbortSignal } => (signal ? { signal } : {});

/** The disk's snapshots, oldest first. */
export async function listVmSnapshots(host: SnapshotVm, signal?: AbortSignal): Promise<DiskSnapshot[]> {
  const a = await access(host, 'list the snapshots of', ['poweroff', 'suspended'], true);
  return a.kind === 'qemu' ? a.hv.list(host.vmId, DISK_ID, wait(signal)) : listFileSnapshots(a.diskPath, wait(signal));
}

/**
 * Takes a snapshot of a running (QMP), powered-off or suspended (qemu-img)
 * VM's disk. Not idempotent on purpose: a name the disk has already is a
 * conflict, since the existing snapshot may be of another moment.
 */
export async function createVmSnapshot(host: SnapshotVm, name: string, signal?: AbortSignal): Promise<DiskSnapshot> {
  checkName(name);
  const a = await access(host, 'take a snapshot of', ['poweroff', 'suspended'], true);
  let snap: DiskSnapshot | undefined;
  if (a.kind === 'qemu') {
    snap = await a.hv.create(host.vmId, DISK_ID, name, wait(signal));
  } else {
    // qemu-img would add a second snapshot with the same name.
    if ((await listFileSnapshots(a.diskPath, wait(signal))).some((s) => s.name === name)) throw new DiskSnapshotExistsError(name);
    await createFileSnapshot(a.diskPath, name, wait(signal));
    snap = (await listFileSnapshots(a.diskPath, wait(signal))).find((s) => s.name === name);
    if (snap === undefined) throw new SnapshotNotListedError(host.vmId, name);
  }
  host.logger.info({ vmId: host.vmId, snapshot: name, via: a.kind }, 'disk snapshot taken');
  return snap;
}

/**
 * Reverts a powered-off VM's disk to a snapshot; the snapshot stays.
 * Idempotent: reverting again gives the same disk.
 */
export async function revertVmSnapshot(host: SnapshotVm, name: string, signal?: AbortSignal): Promise<DiskSnapshot> {
  checkName(name);
  const a = await access(host, 'revert to a snapshot', ['poweroff'], false);
  // `live` false: access answers with the file, never through QEMU.
  const diskPath = a.kind === 'file' ? a.diskPath : await diskPathOf(host);
  const snap = (await listFileSnapshots(diskPath, wait(signal))).find((s) => s.name === name);
  if (snap === undefined) throw new DiskSnapshotNotFoundError(name);
  // By id: `qemu-img snapshot -a` looks ids up before names, and a name may be another snapshot's id.
  await revertFileSnapshot(diskPath, snap.id, wait(signal));
  host.logger.info({ vmId: host.vmId, snapshot: name }, 'disk reverted to snapshot');
  return snap;
}

/** Deletes a snapshot of a running, powered-off or suspended VM's disk; the disk's current state is untouched. */
export async function deleteVmSnapshot(host: SnapshotVm, name: string, signal?: AbortSignal): Promise<void> {
  checkName(name);
  const a = await access(host, 'delete a snapshot of', ['poweroff', 'suspended'], true);
  if (a.kind === 'qemu') {
    await a.hv.delete(host.vmId, DISK_ID, name, wait(signal));
  } else {
    if (!(await listFileSnapshots(a.diskPath, wait(signal))).some((s) => s.name === name)) throw new DiskSnapshotNotFoundError(name);
    await deleteFileSnapshot(a.diskPath, name, wait(signal));
  }
  host.logger.info({ vmId: host.vmId, snapshot: name, via: a.kind }, 'disk snapshot deleted');
}

/**
 * Refuses a copy of the disk's current data into a new file — a disk move,
 * a live migration's mirror to another host — while the disk has snapshots:
 * they would stay behind in the old file and be deleted with it. The
 * controller refuses these first; this is the check under the VM's lock.
 */
export async function refuseCopyWithSnapshots(host: SnapshotVm, verb: string, signal?: AbortSignal): Promise<void> {
  const names = (await listVmSnapshots(host, signal)).map((s) => s.name);
  if (names.length > 0) throw new AgentConflictError({ vmId: host.vmId }, 'has-snapshots', `cannot ${verb}: its disk has snapshots (${names.join(', ')}), which only its own file holds; delete them first`);
}
