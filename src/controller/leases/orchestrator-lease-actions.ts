import type { Logger } from 'pino';
import type { Store } from '../../store/open-store.js';
import type { CapacityLease } from '../../store/repositories/capacity-leases-repository.js';
import type { Vm } from '../../store/repositories/vms-repository.js';
import type { CapacityCheck } from '../../store/repositories/capacity-check.js';
import { CapacityError } from '../../store/store-errors.js';
import { sleep } from '../../util/deadline.js';
import { LeaseStepError } from './lease-step-error.js';
import type { Catalog } from '../catalog.js';
import type { MigrationService } from '../migration-service.js';
import { recordNewVm } from '../record-new-vm.js';
import type { VmOrchestrator } from '../vm-orchestrator.js';
import type { LeaseActions } from './lease-actions.js';
import { MigrationRefusedError } from '../migration-errors.js';

export interface OrchestratorLeaseActionsOptions {
  readonly store: Store;
  readonly catalog: Catalog;
  readonly orchestrator: VmOrchestrator;
  readonly migrations: MigrationService;
  /** The placement policy's capacity check (CPU overcommit), for re-reserving a suspended VM. */
  readonly bindCheck: CapacityCheck;
  readonly logger: Logger;
  /** How often a VM's state is read while waiting (default 500 ms). */
  readonly pollMs?: number | undefined;
}

/** The name of a lease's VM number `idx`: how a repeated step finds the VM it made before. */
export const leaseVmName = (leaseId: string, idx: number): string => `lease-${leaseId.slice(0, 8)}-${idx}`;

/**
 * LeaseActions over the controller's own machinery: a lease's VM is made as
 * any VM is (catalog admission, the orchestrator's placement, prolog and boot)
 * deployed on the planned host (`spec.deploy`, the first placement only); suspend and resume are
 * the VM actions (QEMU saves and restores memory on the host); a move is a
 * cold migration through the migration service. Every wait reads the store
 * until the VM is where the step leaves it, and gives up with the signal.
 */
export class OrchestratorLeaseActions implements LeaseActions {
  constructor(private readonly o: OrchestratorLeaseActionsOptions) {}

  async create(lease: CapacityLease, idx: number, hostId: string, _signal: AbortSignal): Promise<string> {
    const { store } = this.o;
    const owner = await store.users.get(lease.ownerId);
    const name = leaseVmName(lease.id, idx);
    let vm = (await store.vms.list({ ownerId: owner.id, name })).find((v) => v.state !== 'terminated');
    if (vm === undefined) {
      const admitted = await this.o.catalog.admitVm({ name, template: lease.templateId, vcpus: lease.vcpus, memoryMiB: lease.memoryMib }, owner);
      // Deployed on the planned host, not pinned there by a requirement: the lease moves its VMs later (migrate), which a lasting `hostname ==` would refuse.
      vm = await recordNewVm(this.o, { ...admitted, spec: (leases) => ({ ...admitted.spec(leases), deploy: { hostId } }) }, owner);
    }
    return vm.id;
  }

  async started(vmId: string, signal: AbortSignal): Promise<void> {
    await this.#until(vmId, (v) => v.state === 'running' && v.operation === null, 'running', signal);
  }

  async suspend(vmId: string, signal: AbortSignal): Promise<void> {
    const vm = await this.#settled(vmId, signal);
    let acted: Vm | undefined;
    if (vm.state === 'running') acted = await this.o.orchestrator.act(vmId, 'suspend');
    else if (vm.state !== 'suspended') throw new LeaseStepError(vmId, 'suspend', vm.state);
    await this.#until(vmId, (v) => v.state === 'suspended' && v.operation === null, 'suspended', signal, acted);
    if (await this.o.store.capacityLeases.releaseSuspendedVm(vmId)) await this.o.orchestrator.schedulePending();
  }

  async migrate(vmId: string, hostId: string, signal: AbortSignal): Promise<void> {
    const vm = await this.#settled(vmId, signal);
    if (vm.hostId === hostId) return;
    if (vm.state !== 'suspended') throw new LeaseStepError(vmId, 'migrate', vm.state);
    // The destination may still be freeing what the plan says it frees by now: refused for capacity, asked again.
    // The lease's plan decides where its VMs run: forced past requirements it does not know of (every other check still applies).
    await this.#retryCapacity(() => this.o.migrations.start(vmId, { to: hostId, force: true }), signal);
    await this.#until(vmId, (v) => v.hostId === hostId && v.state === 'suspended' && v.operation === null, `suspended on host ${hostId}`, signal);
  }

  async resume(vmId: string, signal: AbortSignal): Promise<void> {
    const vm = await this.#settled(vmId, signal);
    let acted: Vm | undefined;
    if (vm.state === 'suspended') {
      const spec = vm.spec as { demand?: { vcpus?: number; memoryMiB?: number; diskMiB?: number } };
      const demand = { cpus: spec.demand?.vcpus ?? 0, memoryMib: spec.demand?.memoryMiB ?? 0, diskMib: spec.demand?.diskMiB ?? 0 };
      await this.#retryCapacity(() => this.o.store.capacityLeases.reserveSuspendedVm(vmId, demand, this.o.bindCheck), signal);
      acted = await this.o.orchestrator.act(vmId, 'resume');
    } else if (vm.state !== 'running') {
      throw new LeaseStepError(vmId, 'resume', vm.state);
    }
    await this.#until(vmId, (v) => v.state === 'running' && v.operation === null, 'running', signal, acted);
  }

  async terminate(vmId: string, signal: AbortSignal): Promise<void> {
    const vm = await this.#settled(vmId, signal);
    if (vm.state === 'terminated') return;
    // A suspended VM that gave its reservation back holds none: terminate frees nothing twice.
    await this.o.orchestrator.act(vmId, vm.state === 'failed' || vm.state === 'unknown' ? 'terminate-hard' : 'terminate');
    await this.#until(vmId, (v) => v.state === 'terminated', 'terminated', signal);
  }

  /** The VM once no operation is in flight on it (a repeated step may find one it started). */
  #settled(vmId: string, signal: AbortSignal): Promise<Vm> {
    return this.#until(vmId, (v) => v.operation === null || v.state === 'pending', 'at rest', signal);
  }

  /** Reads the VM until `ok`; `acted`: the VM as the action that was asked left it, so that the action ending elsewhere (a failed save leaves it running, a failed restore suspended) fails the step instead of waiting for its timeout. */
  async #until(vmId: string, ok: (vm: Vm) => boolean, what: string, signal: AbortSignal, acted?: Vm): Promise<Vm> {
    for (;;) {
      const vm = await this.o.store.vms.get(vmId);
      if (ok(vm)) return vm;
      if (vm.state === 'failed' || (vm.state === 'terminated' && what !== 'terminated')) throw new LeaseStepError(vmId, `wait until ${what}`, vm.state, vm.stateReason ?? undefined);
      if (acted !== undefined && vm.operation === null && vm.version > acted.version) throw new LeaseStepError(vmId, `wait until ${what}`, vm.state, vm.stateReason ?? 'its action ended without getting there');
      signal.throwIfAborted();
      await sleep(this.o.pollMs ?? 500, signal);
    }
  }

  async #retryCapacity<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const capacity = err instanceof CapacityError || (err instanceof MigrationRefusedError && err.check === 'capacity');
        if (!capacity) throw err;
        this.o.logger.info({ err: err.message }, 'the lease\'s host is not free yet; asking again');
        await sleep(1000, signal);
      }
    }
  }
}
