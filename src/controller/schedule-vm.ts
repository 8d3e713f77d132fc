import { chooseVmHost } from './choose-vm-host.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { CapacityError } from '../store/store-errors.js';
import { bindCheckFor } from './bind-check.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { SchedulingHosts } from './scheduling-hosts.js';
import type { VmOrchestratorOptions } from './vm-orchestrator-options.js';
import type { PhaseOutcome } from './run-vm-phase.js';

/**
 * The `schedule` step: places a pending VM on a host (or a remote cloud) and
 * binds it there. Apart from runVmPhase since it is the one step that writes
 * the VM's next state itself and leans on the orchestrator's host cache.
 */
export async function scheduleVm(vm: Vm, d: { readonly o: VmOrchestratorOptions; readonly hosts: SchedulingHosts; readonly retryIn?: ((ms: number) => void) | undefined }): Promise<PhaseOutcome> {
  const spec = vm.spec as unknown as ControllerVmSpec;
  const creating = vm.operation?.action === 'create';
  const demand = vmDemand(vm);
  // An admin's chosen host (`host` at create) decides the first placement only: a resume or recover places afresh.
  const chosen = creating ? spec.deploy?.hostId : undefined;
  // Bound to a cloud already (a controller stopped between the binding and this write): the binding stands.
  const bound = await d.o.clouds?.binding(vm.id);
  if (bound !== undefined) return boundToCloud(d.o, vm, bound.cloudId);
  for (let attempt = 0; attempt < 3; attempt++) {
    let placed = await chooseVmHost({ store: d.o.store, hosts: d.hosts, policy: d.o.policy }, demand, chosen);
    // Avoiding a host its create could not reach is a preference: with no other host for it, that one is tried again
    // (its agent may be back) rather than the VM left waiting for ever.
    if (placed.hostId === undefined && demand.avoidHosts !== undefined) {
      const { avoidHosts: _avoided, ...anyHost } = demand;
      placed = await chooseVmHost({ store: d.o.store, hosts: d.hosts, policy: d.o.policy }, anyHost, chosen);
    }
    if (placed.hostId === undefined) {
      let summary = placed.summary;
      // No local host takes it: a remote cloud may (an admin's chosen host is not given up for one).
      // Nor for a VM whose create brings volumes: they are files of a host nubo runs, which a cloud instance cannot reach.
      if (d.o.clouds !== undefined && chosen === undefined && (spec.volumesAtCreate ?? []).length === 0) {
        const c = await d.o.clouds.place(vm, demand, placed.summary);
        if ('bound' in c) return boundToCloud(d.o, vm, c.bound.cloudId, c.cloud, c.why);
        summary = c.summary;
        // The wait policy holds it back until then: placed again at that time (a host that frees up meanwhile wakes it sooner).
        if (c.retryInMs !== undefined) d.retryIn?.(c.retryInMs);
      }
      if (vm.stateReason !== summary) {
        await d.o.store.vms.transition(vm.id, { from: ['pending'], to: 'pending', action: 'schedule', expectedVersion: vm.version, patch: { stateReason: summary } });
      }
      return 'wait';
    }
    const generation = d.hosts.generation;
    try {
      await d.o.store.vms.bindToHost(vm.id, placed.hostId, { cpus: demand.vcpus, memoryMib: demand.memoryMiB, diskMib: demand.diskMiB }, bindCheckFor(d.o.policy), { action: 'schedule' });
      d.hosts.reserved(placed.hostId, demand, generation);
      return 'advanced';
    } catch (err) {
      // Another VM (or controller) took the room between placement and binding, or the host changed state: read it back, place again.
      if (!(err instanceof CapacityError)) throw err;
      await d.hosts.refreshHost(placed.hostId);
    }
  }
  return 'wait';
}

/**
 * What a placement of the VM asks for: its size; the bridges of its NICs' networks (a TAP goes on a bridge of the
 * host: only hosts that report it can take the VM); for its create, the hosts it could not reach (place-again.ts),
 * with `alsoAvoid` added.
 */
export function vmDemand(vm: Vm, alsoAvoid: readonly string[] = []): ControllerVmSpec['demand'] & { networks: string[]; avoidHosts?: string[] } {
  const spec = vm.spec as unknown as ControllerVmSpec;
  const avoidHosts = [...(vm.operation?.action === 'create' ? spec.avoidHosts ?? [] : []), ...alsoAvoid];
  return {
    ...spec.demand,
    networks: [...new Set((spec.agent.nics ?? []).flatMap((n) => (n.bridge !== undefined ? [n.bridge] : [])))],
    ...(avoidHosts.length > 0 ? { avoidHosts } : {}),
  };
}

/** The step after a cloud binding: prolog (the launch), with the cloud — and why it went now, under the wait policy — named in the VM's history and state reason. */
async function boundToCloud(o: VmOrchestratorOptions, vm: Vm, cloudId: string, name?: string, why?: string): Promise<PhaseOutcome> {
  const cloud = name ?? (await o.store.clouds.get(cloudId)).name;
  await o.store.vms.transition(vm.id, {
    from: ['pending'], to: 'prolog', action: 'schedule', expectedVersion: vm.version,
    reason: why === undefined ? `placed on cloud ${cloud}` : `placed on cloud ${cloud}: ${why}`,
    ...(why !== undefined ? { patch: { stateReason: `${why}; burst to ${cloud}` } } : {}),
  });
  o.logger.info({ vmId: vm.id, cloud, ...(why !== undefined ? { why } : {}) }, 'vm placed on a remote cloud');
  return 'advanced';
}
