import type { Logger } from 'pino';
import type { VolumeAttachment } from '../contract/agent-api.js';
import type { AgentClient } from '../client/agent-client.js';
import { InvalidStateError } from '../core/invalid-state-error.js';
import type { VmState } from '../core/vm-state.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { Volume } from '../store/repositories/volumes-repository.js';
import type { JsonObject } from '../store/store-context.js';
import { ConflictError, DiskCapacityError, NotFoundError } from '../store/store-errors.js';
import type { VolumeView } from '../contract/storage-schemas.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { AccessAction } from '../core/access.js';
import type { Access } from './api/access-control.js';
import { AmbiguousIdError } from './api/match-reference.js';

/** The states a VM's volumes may change in: hot-plugged while it runs, in its spec while it is off. */
export const VOLUME_CHANGE_STATES: readonly VmState[] = ['running', 'poweroff'];

export interface VmVolumesOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly logger: Logger;
  /** Whether another change to the VM's storage (a disk move) is under way. */
  readonly busy: (vmId: string) => boolean;
}

const specOf = (vm: Vm): ControllerVmSpec => vm.spec as unknown as ControllerVmSpec;

export function withVolumes(vm: Vm, volumes: readonly VolumeAttachment[]): JsonObject {
  const spec = specOf(vm);
  const { volumes: _old, ...agent } = spec.agent;
  const sorted = [...volumes].sort((a, b) => a.slot - b.slot);
  return { ...spec, agent: { ...agent, ...(sorted.length > 0 ? { volumes: sorted } : {}) } } as unknown as JsonObject;
}

/**
 * Volumes (issue 6 part 5): data disks with a life of their own. A volume is
 * a store record until it is first attached; then the agent of the VM's host
 * makes its file (an empty qcow2) and it belongs to that host. The store
 * binds it (slot, host) before the agent is asked and undoes that if the
 * agent fails; the VM's spec lists its volumes, so the next boot has them at
 * the same slots.
 */
export class VmVolumes {
  readonly #o: VmVolumesOptions;

  constructor(o: VmVolumesOptions) {
    this.#o = o;
  }

  async view(v: Volume): Promise<VolumeView> {
    const s = this.#o.store;
    const host = v.hostId === null ? null : await s.hosts.get(v.hostId).then((h) => h.name, () => v.hostId);
    const vm = v.vmId === null ? null : await findOrUndefined(s.vms.get(v.vmId));
    const owner = await s.users.get(v.ownerId).then((u) => u.name, () => v.ownerId);
    return { id: v.id, name: v.name, owner, sizeMiB: v.sizeMib, host, vm: v.vmId, vmName: vm?.name ?? null, slot: v.slot, state: v.vmId === null ? 'available' : 'attached', createdAt: v.createdAt, cluster: v.cluster };
  }

  /**
   * A volume the caller may do `action` to (core/access.ts through the
   * request's Access: the owner, the owner's group admins, admins), by id or
   * by name — the caller's own first, else the one volume of that name they
   * may see. @throws NotFoundError when hidden, ForbiddenError when only seen
   */
  async find(access: Access, ref: string, action: AccessAction = 'read'): Promise<Volume> {
    const byId = await findOrUndefined(this.#o.store.volumes.get(ref));
    if (byId !== undefined) return access.check(action, 'volume', byId);
    const named = (await access.filter('read', 'volume', await this.#o.store.volumes.list())).filter((v) => v.name === ref);
    const found = named.find((v) => v.ownerId === access.user.id) ?? (named.length === 1 ? named[0] : undefined);
    if (found === undefined && named.length > 1) throw new AmbiguousIdError('volume', ref, named);
    if (found === undefined) throw new NotFoundError('volume', ref);
    return access.check(action, 'volume', found);
  }

  /**
   * A volume no host could hold is refused when it is created (409 CAPACITY
   * naming `sizeMiB`), not at its first attach: the room of a host is its disk
   * less what its VMs reserved and its volumes take. Only the hosts of the
   * volume's cluster count (undefined: every host). Hosts that have not
   * reported their capacity yet say nothing; the attach checks again.
   */
  async ensureSomeHostHolds(sizeMib: number, cluster?: string): Promise<void> {
    const { store } = this.#o;
    const hosts = (await store.hosts.list()).filter((h) => h.total.diskMib > 0 && h.state !== 'disabled' && (cluster === undefined || h.cluster === cluster));
    if (hosts.length === 0) return;
    const onHost = new Map<string, number>();
    for (const v of await store.volumes.list()) if (v.hostId !== null) onHost.set(v.hostId, (onHost.get(v.hostId) ?? 0) + v.sizeMib);
    const free = Math.max(0, ...hosts.map((h) => h.total.diskMib - h.reserved.diskMib - (onHost.get(h.id) ?? 0)));
    if (sizeMib > free) throw new DiskCapacityError('sizeMiB', sizeMib, free, cluster === undefined ? 'the host with the most room' : `the host of cluster ${cluster} with the most room`);
  }

  async attach(vm: Vm, volume: Volume): Promise<Volume> {
    this.#checkState(vm, 'volume-attach', 'attach a volume to');
    if (volume.ownerId !== vm.ownerId) throw new ConflictError('volume', 'name', volume.name, 'belongs to another user than the VM');
    const { host, agent } = await this.#agentOf(vm);
    const bound = await this.#o.store.volumes.attach(volume.id, vm.id, host.id);
    const a: VolumeAttachment = { id: bound.id, slot: bound.slot!, sizeMiB: bound.sizeMib };
    try {
      await agent.attachVolume(agentVmId(vm.id), a);
      await this.#o.store.vms.reviseSpec(vm.id, { action: 'volume-attach', spec: (cur) => withVolumes(cur, [...(specOf(cur).agent.volumes ?? []).filter((x) => x.id !== a.id), a]) });
    } catch (err) {
      await this.#o.store.volumes.detach(volume.id, vm.id).catch((undoErr: unknown) => this.#o.logger.error({ vmId: vm.id, volumeId: volume.id, err: undoErr }, 'undoing a volume attach in the store failed'));
      this.#o.logger.warn({ vmId: vm.id, volumeId: volume.id, err }, 'volume attach failed on the agent; undone');
      throw err;
    }
    this.#o.logger.info({ vmId: vm.id, volumeId: volume.id, slot: a.slot, host: host.name, state: vm.state }, 'volume attached');
    return this.#o.store.volumes.get(volume.id);
  }

  async detach(vm: Vm, volume: Volume): Promise<Volume> {
    if (volume.vmId !== vm.id) throw new NotFoundError('volume', `${volume.name} on VM ${vm.name}`);
    this.#checkState(vm, 'volume-detach', 'detach a volume from');
    const { agent } = await this.#agentOf(vm);
    // The agent first: until the guest let go of the device, the volume stays the VM's.
    await agent.detachVolume(agentVmId(vm.id), volume.id);
    await this.#o.store.vms.reviseSpec(vm.id, { action: 'volume-detach', spec: (cur) => withVolumes(cur, (specOf(cur).agent.volumes ?? []).filter((x) => x.id !== volume.id)) });
    const v = await this.#o.store.volumes.detach(volume.id, vm.id);
    this.#o.logger.info({ vmId: vm.id, volumeId: volume.id }, 'volume detached');
    return v;
  }

  /** Deletes a detached volume: its file on its host (if it was ever made), then its record. */
  async delete(volume: Volume): Promise<void> {
    if (volume.vmId !== null) {
      const vm = await findOrUndefined(this.#o.store.vms.get(volume.vmId));
      throw new ConflictError('volume', 'name', volume.name, `is attached to VM ${vm?.name ?? volume.vmId}; detach it first`);
    }
    if (volume.hostId !== null) {
      const host = await this.#o.store.hosts.get(volume.hostId);
      await this.#o.agentFor(host).deleteVolume(volume.id);
    }
    await this.#o.store.volumes.delete(volume.id);
    this.#o.logger.info({ volumeId: volume.id, name: volume.name }, 'volume deleted');
  }

  #checkState(vm: Vm, action: string, verb: string): void {
    if (!VOLUME_CHANGE_STATES.includes(vm.state) || vm.operation !== null) throw new InvalidStateError(action, vm.state, VOLUME_CHANGE_STATES, verb);
    if (this.#o.busy(vm.id)) throw new ConflictError('vm', 'name', vm.name, 'has a disk move under way; change its volumes when it is done');
  }

  async #agentOf(vm: Vm): Promise<{ host: Host; agent: AgentClient }> {
    if (vm.hostId === null) throw new InvalidStateError('volume', vm.state, VOLUME_CHANGE_STATES, 'change the volumes of');
    const host = await this.#o.store.hosts.get(vm.hostId);
    return { host, agent: this.#o.agentFor(host) };
  }
}
