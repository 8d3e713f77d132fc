import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Hypervisor } from '../hypervisor/hypervisor.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import { NuboError, errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { createImage, createOverlay, imageInfo } from '../storage/qemu-img.js';
import type { AgentVmSpec, DiskMoveStatus } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { VmHost } from './vm-host.js';
import type { VmFiles } from './vm-record-store.js';

type Datastore = AgentVmSpec['disk']['datastore'];

/** The abort reason of a move cancelled by `cancel`: it ends the move's waits with this. */
export class DiskMoveCancelledError extends NuboError {
  readonly code = 'DISK_MOVE_CANCELLED';
  constructor(readonly vmId: string) {
    super('the disk move was cancelled', { vmId });
  }
}

/** What a move uses of the VM (handed over with its lock held); its marker file is `paths.diskMove`. */
export type DiskMoveVm = Pick<VmHost, 'vmId' | 'hypervisor' | 'logger' | 'paths' | 'readSpec' | 'writeSpec' | 'report' | 'files' | 'ensureImages' | 'buildConfigDrive'>;

/** Written before the new file is made, removed when the move is settled: what a restarted agent needs to finish or undo it. */
interface MoveMarker {
  readonly to: Datastore;
  readonly newDisk: string;
}

interface Job {
  status: DiskMoveStatus;
  readonly abort: AbortController;
}

/**
 * Live storage migration inside one host (DESIGN.md §5, last paragraph): a
 * running VM's disk moves to the host's other datastore. The new disk is an
 * overlay on the target datastore's own copy of the base image (each
 * datastore has its image cache) and only the VM's own blocks are mirrored
 * (`sync: top`); a standalone disk (`mode: copy`) gets an empty image and a
 * full mirror. The order is crash-safe: marker, new file, mirror, pivot,
 * then the spec names the new datastore, and only then is the old file
 * deleted. A failed or cancelled mirror leaves the VM on its old disk and the
 * new file is deleted.
 */
export class DiskMoves {
  readonly #jobs = new Map<string, Job>();

  /** The latest move of the VM (kept after it ended, until the next one), or undefined. */
  status(vmId: string): DiskMoveStatus | undefined {
    const j = this.#jobs.get(vmId);
    return j === undefined ? undefined : { ...j.status };
  }

  /** Asks the VM's move in flight to stop before its pivot; false when none runs. */
  cancel(vmId: string): boolean {
    const j = this.#jobs.get(vmId);
    if (j === undefined || (j.status.state !== 'copying' && j.status.state !== 'ready')) return false;
    j.abort.abort(new DiskMoveCancelledError(vmId));
    return true;
  }

  /** Checks what can be checked before the VM's lock is taken, so a bad request fails fast. */
  precheck(vmId: string, hv: Hypervisor): void {
    const j = this.#jobs.get(vmId);
    if (j !== undefined && (j.status.state === 'copying' || j.status.state === 'ready')) throw new AgentConflictError({ vmId }, 'busy', `its disk is already being moved to the ${j.status.to} datastore`);
    if (!hv.disks?.move) throw new UnsupportedError('live storage migration', `the ${hv.kind} driver cannot move a running VM's disk`);
  }

  async move(host: DiskMoveVm, to: Datastore, maxBandwidthBytes: number | undefined, signal?: AbortSignal): Promise<DiskMoveStatus> {
    const { vmId, hypervisor: hv } = host;
    this.precheck(vmId, hv);
    await this.settle(host);
    const spec = await host.readSpec();
    const from = spec.disk.datastore;
    if (from === to) throw new ValidationError('disk move', [{ field: 'datastore', message: `the disk of VM ${vmId} is already on the ${to} datastore` }]);
    const cur = await host.report();
    if (cur.incomingMigrationId !== undefined) throw new AgentConflictError({ vmId }, 'in-migration', `it is the destination of migration ${cur.incomingMigrationId}`);
    if (cur.state !== 'running' && cur.state !== 'paused') throw new AgentConflictError({ vmId }, 'wrong-state', `it is ${cur.state}: only a running VM's disk moves live`);
    const next: AgentVmSpec = { ...spec, disk: { ...spec.disk, datastore: to } };
    const oldFiles = host.files(spec);
    const newFiles = host.files(next);
    const sync = spec.disk.mode === 'overlay' ? 'top' : 'full';
    const abort = new AbortController();
    const job: Job = { abort, status: { state: 'copying', from, to, sync, offset: 0, len: 0, startedAt: new Date().toISOString() } };
    this.#jobs.set(vmId, job);
    const onAbort = (): void => abort.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const end = (state: DiskMoveStatus['state'], error?: string): DiskMoveStatus => {
      job.status = { ...job.status, state, finishedAt: new Date().toISOString(), ...(error !== undefined ? { error } : {}) };
      return { ...job.status };
    };
    try {
      await writeMarker(host.paths.diskMove, { to, newDisk: newFiles.disk });
      try {
        // Nothing uses the new place: the settle above undid any earlier attempt.
        if (newFiles.sharedDir !== undefined) await rm(newFiles.sharedDir, { recursive: true, force: true });
        else await rm(newFiles.disk, { force: true });
        await mkdir(dirname(newFiles.disk), { recursive: true });
        if (sync === 'top') {
          const base = await host.ensureImages(next, abort.signal);
          await createOverlay(base, spec.disk.image.format === 'raw' ? 'raw' : 'qcow2', newFiles.disk, { signal: abort.signal });
        } else {
          const size = (await imageInfo(oldFiles.disk, { signal: abort.signal })).virtualSize;
          await createImage(newFiles.disk, 'qcow2', size, { signal: abort.signal });
        }
        // The running QEMU keeps the config drive it opened; the next boot reads this copy.
        await host.buildConfigDrive(next, newFiles.iso, abort.signal);
        host.logger.info({ vmId, from, to, sync, path: newFiles.disk }, 'disk move started');
        await hv.disks!.move!(vmId, 'root', { path: newFiles.disk, sync, speedBytes: maxBandwidthBytes }, {
          signal: abort.signal,
          timeoutMs: 6 * 3_600_000,
          onProgress: (p) => {
            job.status = { ...job.status, offset: p.offset, len: p.len, state: p.ready ? 'ready' : 'copying' };
          },
        });
      } catch (err) {
        // The pivot did not happen (moveDisk undoes its half itself): the old file is the disk.
        await removeFiles(newFiles, oldFiles);
        await rm(host.paths.diskMove, { force: true });
        const cancelled = abort.signal.aborted;
        end(cancelled ? 'cancelled' : 'failed', errorMessage(err));
        host.logger.warn({ vmId, from, to, cancelled, err: errorMessage(err) }, 'disk move ended without a switch-over; the VM stays on its old disk');
        if (cancelled) throw new AgentConflictError({ vmId }, 'cancelled', `the disk move was cancelled: ${errorMessage(err)}`);
        throw err;
      }
      // The commit on this host: the spec names the new datastore before the old file goes.
      await host.writeSpec(next);
      await removeFiles(oldFiles, newFiles);
      await rm(host.paths.diskMove, { force: true });
      host.logger.info({ vmId, from, to, bytes: job.status.len }, 'disk moved');
      return end('done');
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Finishes or undoes a move an earlier agent process left (its marker is
   * still there): the VM runs on the new file → the spec is made to say so
   * and the old file goes; otherwise the new file goes. Idempotent.
   */
  async settle(host: DiskMoveVm): Promise<void> {
    const marker = await readMarker(host.paths.diskMove);
    if (marker === undefined) return;
    const spec = await host.readSpec();
    const inUse = host.hypervisor.disks?.pathOf?.(host.vmId, 'root');
    const next: AgentVmSpec = { ...spec, disk: { ...spec.disk, datastore: marker.to } };
    if (inUse === marker.newDisk) {
      if (spec.disk.datastore !== marker.to) {
        await host.writeSpec(next);
        await removeFiles(host.files(spec), host.files(next));
      }
      host.logger.warn({ vmId: host.vmId, to: marker.to }, 'disk move left by an earlier agent finished');
    } else if (spec.disk.datastore !== marker.to) {
      await removeFiles(host.files(next), host.files(spec));
      host.logger.warn({ vmId: host.vmId, to: marker.to }, 'disk move left by an earlier agent undone');
    }
    await rm(host.paths.diskMove, { force: true });
  }
}

/** Deletes a datastore's copy of the VM's disk and config drive, never a file `keep` names. */
async function removeFiles(f: VmFiles, keep: VmFiles): Promise<void> {
  if (f.sharedDir !== undefined && keep.sharedDir !== f.sharedDir) {
    await rm(f.sharedDir, { recursive: true, force: true });
    return;
  }
  if (f.disk !== keep.disk) await rm(f.disk, { force: true });
  if (f.iso !== keep.iso) await rm(f.iso, { force: true });
}

async function writeMarker(path: string, m: MoveMarker): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(m));
  await rename(`${path}.tmp`, path);
}

async function readMarker(path: string): Promise<MoveMarker | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as MoveMarker;
  } catch {
    return undefined;
  }
}
