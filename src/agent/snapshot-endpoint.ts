import type { DiskSnapshot } from '../hypervisor/disk-snapshot.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { ValidationError } from '../errors/validation-error.js';
import { snapshotRequestSchema } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import type { VmHost } from './vm-host.js';
import { createVmSnapshot, deleteVmSnapshot, listVmSnapshots, revertVmSnapshot } from './vm-snapshots.js';

/**
 * A VM's disk snapshots (see vm-snapshots.ts). The changes take `signal` for
 * the wait for the VM's lock only: once begun, a qemu-img cut short could
 * leave the disk's snapshot table half written.
 */
export class SnapshotEndpoint {
  constructor(readonly host: AgentHost) {}

  /** The VM's disk snapshots, oldest first (QMP while it runs, the file while it rests). */
  listSnapshots(id: string, signal?: AbortSignal): Promise<DiskSnapshot[]> {
    return this.#withSnapshots(id, false, (vm) => listVmSnapshots(vm, signal), signal);
  }

  /** Takes a snapshot of a running, powered-off or suspended VM's disk; a name it has is a conflict. */
  createSnapshot(id: string, input: unknown, signal?: AbortSignal): Promise<DiskSnapshot> {
    const r = snapshotRequestSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('snapshot', zodIssues(r.error)));
    const { name } = r.data;
    return this.#withSnapshots(id, true, (vm) => createVmSnapshot(vm, name), signal);
  }

  /** Reverts a powered-off VM's disk to a snapshot. Idempotent. */
  revertSnapshot(id: string, name: string, signal?: AbortSignal): Promise<DiskSnapshot> {
    return this.#withSnapshots(id, true, (vm) => revertVmSnapshot(vm, name), signal);
  }

  deleteSnapshot(id: string, name: string, signal?: AbortSignal): Promise<void> {
    return this.#withSnapshots(id, true, (vm) => deleteVmSnapshot(vm, name), signal);
  }

  /** Runs a snapshot operation under the VM's lock; refused at once while a disk move holds that lock, and changes while a peer copies the disk. */
  #withSnapshots<T>(id: string, changes: boolean, fn: (vm: VmHost) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const h = this.host;
    const move = h.diskMoves.status(id)?.state;
    if (move === 'copying' || move === 'ready') return Promise.reject(new AgentConflictError({ vmId: id }, 'busy', 'its disk is being moved to another datastore'));
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      if (changes) h.refuseWhileCopied(id);
      return fn(vm);
    }, signal);
  }
}
