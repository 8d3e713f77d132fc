import type { AgentVmSpecInput, VolumeAttachment } from '../contract/agent-api.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import type { Volume } from '../store/repositories/volumes-repository.js';
import { ConflictError, NotFoundError } from '../store/store-errors.js';
import type { Access } from './api/access-control.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { withVolumes, type VmVolumes } from './vm-volumes.js';

/** Where a VM may be while the volumes of its create are not yet bound to it in the store (schedule and prolog). */
const BEFORE_ATTACH: readonly Vm['state'][] = ['pending', 'prolog'];

/**
 * The volumes of its create that the VM's prolog is still to bind, as far as
 * its row says: while it is created from pending (or recovered from a failed
 * first prolog), not when it is placed again later (a VM back from a remote
 * cloud is `create` from poweroff), when its volumes may long be elsewhere.
 */
export function createVolumesAhead(vm: Vm): readonly string[] {
  const op = vm.operation;
  if (!BEFORE_ATTACH.includes(vm.state) || op === null || !((op.action === 'create' && op.from === 'pending') || op.action === 'recover')) return [];
  return (vm.spec as unknown as ControllerVmSpec).volumesAtCreate ?? [];
}

/** What a create's `volumes` tie the new VM to: the volumes' ids, the host their files live on, their cluster. */
export interface CreateVolumes {
  readonly ids: readonly string[];
  /** The host of the volume(s) that have a file: the VM's first placement takes this host only. */
  readonly hostId: string | undefined;
  readonly hostName: string | undefined;
  /** Their cluster (availability zone), when one of them has one. */
  readonly cluster: string | undefined;
}

/**
 * Checks the volumes a VM create asks for (`volumes`: ids or names) before
 * anything is written: each is found (400 naming `volumes[i]` when not), the
 * caller may operate it (403), it is the creator's (the VM's owner), not
 * attached, and not promised to another VM's create that has not attached it
 * yet (409 naming the volume). Their files (if made) must be on one host and
 * they in one cluster (409). The store's attach at the VM's prolog checks all
 * this again under lock: a race between two creates fails the later one's
 * prolog, never binds a volume twice.
 */
export async function checkCreateVolumes(store: Store, volumes: VmVolumes, access: Access, refs: readonly string[]): Promise<CreateVolumes> {
  const found: Volume[] = [];
  for (const [i, ref] of refs.entries()) {
    const v = await volumes.find(access, ref, 'operate').catch((err: unknown) => {
      if (err instanceof NotFoundError) throw new ValidationError('request', [{ field: `volumes[${i}]`, message: `no volume ${ref}` }]);
      throw err;
    });
    if (found.some((f) => f.id === v.id)) throw new ValidationError('request', [{ field: `volumes[${i}]`, message: `volume ${v.name} is listed twice` }]);
    found.push(v);
  }
  const promised = new Map<string, Vm>();
  for (const state of BEFORE_ATTACH) {
    for (const vm of await store.vms.list({ state })) for (const id of createVolumesAhead(vm)) promised.set(id, vm);
  }
  for (const v of found) {
    if (v.ownerId !== access.user.id) throw new ConflictError('volume', 'name', v.name, 'belongs to another user than the VM would (a VM is created with its owner\'s volumes only)');
    if (v.vmId !== null) {
      const vm = await store.vms.get(v.vmId).then((x) => x.name, () => v.vmId);
      throw new ConflictError('volume', 'name', v.name, `is attached to VM ${vm}; detach it first`);
    }
    const other = promised.get(v.id);
    if (other !== undefined) throw new ConflictError('volume', 'name', v.name, `is being attached to VM ${other.name}, which is being created`);
  }
  const hosts = [...new Set(found.flatMap((v) => (v.hostId === null ? [] : [v.hostId])))];
  const clusters = [...new Set(found.flatMap((v) => (v.cluster === null ? [] : [v.cluster])))];
  const names = (vs: readonly Volume[]): string => vs.map((v) => v.name).join(', ');
  if (hosts.length > 1) throw new ConflictError('volume', 'name', names(found), 'live on different hosts: a VM is given volumes of one host only');
  if (clusters.length > 1) throw new ConflictError('volume', 'name', names(found), 'are in different clusters: a VM is given volumes of one cluster only');
  const hostId = hosts[0];
  const hostName = hostId === undefined ? undefined : await store.hosts.get(hostId).then((h) => h.name, () => hostId);
  return { ids: found.map((v) => v.id), hostId, hostName, cluster: clusters[0] };
}

/**
 * The prolog's part of a create with volumes: binds each in the store to the
 * VM on its host (slot, host; skipped when already bound to it) and lists them
 * in the VM's spec, before the agent prepares the VM — so the agent is always
 * handed the spec the store has, and a prolog re-run after a controller crash
 * binds what was not bound yet and prepares the same spec again (the agent's
 * prepare and volume attach are idempotent). Returns the agent's spec and the
 * attachments the agent is to make (their files, at the first attach).
 */
export async function bindCreateVolumes(store: Store, vm: Vm, host: Host): Promise<{ agent: AgentVmSpecInput; attach: VolumeAttachment[] }> {
  const spec = vm.spec as unknown as ControllerVmSpec;
  const ids = createVolumesAhead(vm);
  if (ids.length === 0) return { agent: spec.agent, attach: [] };
  // A recover binds them only if the VM never ran: one that ran had them attached, and they are the user's to move since.
  if (vm.operation?.action === 'recover' && (await store.vms.history(vm.id)).some((h) => h.toState === 'running')) return { agent: spec.agent, attach: [] };
  const attach: VolumeAttachment[] = [];
  for (const id of ids) {
    const cur = await store.volumes.get(id);
    const bound = cur.vmId === vm.id ? cur : await store.volumes.attach(id, vm.id, host.id);
    attach.push({ id: bound.id, slot: bound.slot!, sizeMiB: bound.sizeMib });
  }
  const listed = spec.agent.volumes ?? [];
  if (attach.every((a) => listed.some((l) => l.id === a.id && l.slot === a.slot))) return { agent: spec.agent, attach };
  const { vm: revised } = await store.vms.reviseSpec(vm.id, {
    action: 'volume-attach', from: ['prolog'],
    spec: (cur) => withVolumes(cur, [...((cur.spec as unknown as ControllerVmSpec).agent.volumes ?? []).filter((x) => !attach.some((a) => a.id === x.id)), ...attach]),
  });
  return { agent: (revised.spec as unknown as ControllerVmSpec).agent, attach };
}
