import type { Logger } from 'pino';
import type { DiskSnapshotReport } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import { snapshotStateError, SNAPSHOT_STATES, type SnapshotAction } from '../core/snapshot-states.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { SnapshotView } from '../contract/snapshot-schemas.js';
import { agentVmId } from './agent-vm-id.js';

export interface VmSnapshotsOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
}

const view = (s: DiskSnapshotReport): SnapshotView => ({ name: s.name, createdAt: s.createdAt, ...(s.vmClockSec > 0 ? { vmClockSec: s.vmClockSec } : {}) });

/**
 * Disk snapshots of a VM (issue 6 part 4): qcow2 internal snapshots inside
 * the VM's disk file, made and read by the agent of its host. The store keeps
 * no record of them — the file is the truth, and it carries them wherever it
 * goes (cold migration, a stop and resume) — so every answer is the agent's.
 * The store's state decides what is allowed (see core/snapshot-states.ts);
 * the agent checks again under its lock on the VM.
 */
export class VmSnapshots {
  readonly #o: VmSnapshotsOptions;

  constructor(o: VmSnapshotsOptions) {
    this.#o = o;
  }

  async list(vm: Vm): Promise<SnapshotView[]> {
    return (await this.#agentOf(vm, 'list')).listSnapshots(agentVmId(vm.id)).then((l) => l.map(view));
  }

  async create(vm: Vm, name: string): Promise<SnapshotView> {
    const s = await (await this.#agentOf(vm, 'create')).createSnapshot(agentVmId(vm.id), name);
    await this.#event(vm, 'created', name);
    return view(s);
  }

  async revert(vm: Vm, name: string): Promise<SnapshotView> {
    const s = await (await this.#agentOf(vm, 'revert')).revertSnapshot(agentVmId(vm.id), name);
    await this.#event(vm, 'reverted', name);
    return view(s);
  }

  async delete(vm: Vm, name: string): Promise<void> {
    await (await this.#agentOf(vm, 'delete')).deleteSnapshot(agentVmId(vm.id), name);
    await this.#event(vm, 'deleted', name);
  }

  async #event(vm: Vm, action: string, name: string): Promise<void> {
    await this.#o.store.events.append({ kind: 'vm.snapshot', resource: 'vm', resourceId: vm.id, data: { action, name } });
    this.#o.logger.info({ vmId: vm.id, snapshot: name, state: vm.state }, `disk snapshot ${action}`);
  }

  async #agentOf(vm: Vm, action: SnapshotAction): Promise<AgentClient> {
    const refused = snapshotStateError(action, vm.state);
    if (refused) throw refused;
    // An operation in flight owns the VM (a migration, a power action): changes wait until it is done.
    if (action !== 'list' && vm.operation !== null) throw new InvalidStateError(`snapshot-${action}`, `${vm.state} (${vm.operation.action} under way)`, SNAPSHOT_STATES[action], 'change the snapshots of');
    if (vm.hostId === null) throw new InvalidStateError(`snapshot-${action}`, vm.state, SNAPSHOT_STATES[action], 'reach the disk of');
    return this.#o.agentFor(await this.#o.store.hosts.get(vm.hostId));
  }
}

/**
 * How many snapshots the VM's disk holds, for the refusals of the moves that
 * copy only a disk's current data (a live migration's mirror to another host,
 * a disk move): 0 for a VM on no host.
 */
export async function snapshotCountOf(store: Store, agentFor: (host: Host) => AgentClient, vm: Vm): Promise<number> {
  if (vm.hostId === null) return 0;
  return (await agentFor(await store.hosts.get(vm.hostId)).listSnapshots(agentVmId(vm.id))).length;
}
