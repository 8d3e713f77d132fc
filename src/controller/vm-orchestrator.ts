import type { Logger } from 'pino';
import { applyEvent } from '../core/vm-events.js';
import { planAction, planOf, type ActionPlan, type PlanStep, type VmAction } from '../core/vm-actions.js';
import type { VmPhase } from '../core/vm-state.js';
import { chooseVmHost } from './choose-vm-host.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { AgentClient } from '../client/agent-client.js';
import { UnsupportedError } from '../hypervisor/hypervisor-errors.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Store } from '../store/open-store.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { CapacityError, ConflictError, StaleStateError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { bindCheckFor } from './bind-check.js';
import { agentVmId } from './agent-vm-id.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import type { DelegatedVmPhase, VmPhaseTable } from './vm-phase-table.js';
import type { Failpoints } from '../util/failpoints.js';
import { AgentReportError } from './agent-report-error.js';
import { InvariantError } from '../errors/invariant-error.js';
import { isUnreachable } from './is-unreachable.js';
import { terminateMigratingVm } from './terminate-migrating-vm.js';
import { startRecover } from './start-recover.js';
import { SchedulingHosts } from './scheduling-hosts.js';
import type { CloudBursting } from './cloud-bursting.js';

export interface VmOrchestratorOptions {
  readonly store: Store;
  readonly agentFor: (host: Host) => AgentClient;
  readonly policy: PlacementPolicy;
  readonly logger: Logger;
  /**
   * The phases run by collaborators: `stop` and the resume of a stopped VM
   * (the stopper and its system store), cold and live migration (the
   * migrators). Without an entry its phase fails as unsupported.
   */
  readonly phases?: VmPhaseTable | undefined;
  /** Fault injection for tests: `vm.<phase>` before a step's agent call, `vm.<phase>.done` after it returned. */
  readonly failpoints?: Failpoints | undefined;
  /**
   * An agent that cannot be reached (refused, reset, timed out, 502/503/504)
   * has not said the step failed: the step is retried with a backoff from
   * `initialMs` doubling to `maxMs`, until the host monitor declares the host
   * lost or `giveUpAfterMs` has passed. Defaults: 250 ms, 5 s, 10 min.
   */
  readonly unreachableRetry?: { readonly initialMs?: number; readonly maxMs?: number; readonly giveUpAfterMs?: number } | undefined;
  /** How long a guest has to shut down by itself on `reboot` before it is reset instead (default 60 s). */
  readonly rebootGraceS?: number | undefined;
  /** Remote clouds (bursting): where a VM no local host takes may go, and who drives the steps of a VM bound to one. */
  readonly clouds?: Pick<CloudBursting, 'binding' | 'place' | 'runPhase'> | undefined;
}

/** What a VM on a remote cloud cannot do: each moves or saves files of a host, and a cloud instance has none nubo can reach. */
const NOT_ON_A_CLOUD: ReadonlySet<VmAction> = new Set(['stop', 'suspend', 'migrate', 'migrate-live']);

type PhaseOutcome = 'done' | 'advanced' | 'wait';

/** Why a controller composed without a phase's collaborator cannot run it. */
const MISSING_PHASE: Readonly<Record<DelegatedVmPhase, string>> = {
  'epilog-stop': 'this controller has no system store',
  'prolog-resume': 'this controller has no system store',
  migrate: 'this controller has no cold migrator',
  'migrate-live': 'this controller has no live migrator',
};

// Migrations decide every failure themselves (core/migration asks both agents): an unreachable host is one of their cases.
const OWN_FAILURE_RULES: ReadonlySet<VmPhase> = new Set(['migrate', 'migrate-live']);

/**
 * Runs the VM life cycle's plans (core/vm-actions) against agents. Each step
 * is written to the store before its side effect starts and confirmed after
 * it; the operation in flight is recorded on the VM, so `resumeAll` after a
 * controller restart re-runs the current step — every agent call is
 * idempotent, so a VM ends running exactly once or failed, never twice.
 */
export class VmOrchestrator {
  readonly #o: VmOrchestratorOptions;
  readonly #driving = new Map<string, Promise<void>>();
  /** VMs kicked while their drive was running: it runs once more, since what the kick was about may have come after the pass read the store. */
  readonly #rekicked = new Set<string>();
  readonly #retry: { readonly initialMs: number; readonly maxMs: number; readonly giveUpAfterMs: number };
  /** Aborts agent calls in flight when the controller stops; their operations stay recorded for resumeAll. */
  readonly #stopping = new AbortController();
  #closed = false;
  /** What a step found worth telling (a reboot that had to reset), by VM id: written with the step's result. */
  readonly #notes = new Map<string, { readonly reason: string; readonly stateReason: string | null }>();
  readonly #hosts: SchedulingHosts;
  /** VMs left in pending for want of a host: what an ended operation wakes (listing every pending VM each time was O(VMs²) at scale). */
  readonly #waitingForRoom = new Set<string>();

  constructor(o: VmOrchestratorOptions) {
    this.#o = o;
    this.#retry = Object.freeze({ initialMs: 250, maxMs: 5_000, giveUpAfterMs: 600_000, ...o.unreachableRetry });
    this.#hosts = new SchedulingHosts({ store: o.store, policy: o.policy });
  }

  /** Starts `action`: validates it against the VM's state, records the first step, runs the rest in the background. */
  async act(vmId: string, action: VmAction, opts: { expectedVersion?: number; admin?: boolean } = {}): Promise<Vm> {
    const vm = await this.#o.store.vms.get(vmId);
    if (action === 'terminate-hard' && vm.state === 'migrating') {
      const next = await terminateMigratingVm(vm, opts.admin === true, this.#o);
      // If the migration's drive still holds the VM, the kick drives the epilog once that pass ends.
      this.kick(vm.id);
      return next;
    }
    if (action === 'recover') {
      const next = await startRecover(vm, opts.expectedVersion ?? vm.version, { ...this.#o, signal: this.#stopping.signal });
      this.kick(vm.id);
      return next;
    }
    if (NOT_ON_A_CLOUD.has(action) && this.#o.clouds !== undefined) {
      const bound = await this.#o.clouds.binding(vm.id);
      if (bound !== undefined) {
        const cloud = await this.#o.store.clouds.get(bound.cloudId);
        throw new ConflictError('VM', 'cloud', cloud.name, `cannot ${action}: it runs on a remote cloud, where nubo can launch, stop, start, reboot and terminate it only`);
      }
    }
    if (action === 'stop' && (vm.spec as unknown as ControllerVmSpec).agent.disk.datastore === 'shared') {
      // Its disk would stay on the shared datastore with no host holding the VM: suspend keeps it whole and resumable.
      throw new ConflictError('VM', 'datastore', 'shared', 'cannot be stopped: stop moves a VM\'s files off its host, and its disk is on the shared datastore; suspend it instead');
    }
    if (action === 'stop') {
      // Volumes are files of their host and are not moved with the VM: refused before anything starts, not halfway.
      const volumes = (await this.#o.store.volumes.list({ vmId })).map((v) => v.name).sort();
      if (volumes.length > 0) {
        throw new ConflictError('VM', 'volumes', volumes.join(', '), `cannot be stopped: stop moves a VM's files off its host, and its ${volumes.length === 1 ? 'volume stays' : 'volumes stay'} there; detach ${volumes.join(', ')} first (or suspend it instead)`);
      }
    }
    const plan = planAction(vm.state, action);
    const next = await this.#o.store.vms.transition(vmId, {
      from: [vm.state],
      to: plan.transitional,
      action,
      expectedVersion: opts.expectedVersion ?? vm.version,
      patch: plan.steps.length > 0 ? { operation: { action, from: vm.state } } : { operation: null },
    });
    this.kick(vmId);
    return next;
  }

  /** Drives the VM's operation in flight; if that is already under way, it is driven once more when the current pass ends. */
  kick(vmId: string): void {
    if (this.#closed) return;
    if (this.#driving.has(vmId)) {
      this.#rekicked.add(vmId);
      return;
    }
    this.#driving.set(vmId, this.#driveUntilQuiet(vmId));
  }

  async #driveUntilQuiet(vmId: string): Promise<void> {
    try {
      do {
        try {
          await this.#drive(vmId);
        } catch (err) {
          this.#o.logger.error({ vmId, err }, 'driving the VM failed; it is driven again on its next kick');
        }
      } while (this.#rekicked.delete(vmId) && !this.#closed);
    } finally {
      // In the same turn as the last check above: a kick cannot fall between the two.
      this.#driving.delete(vmId);
      this.#rekicked.delete(vmId);
    }
  }

  /** After a restart: picks up every operation that was in flight, pending VMs included. */
  async resumeAll(): Promise<void> {
    for (const vm of await this.#o.store.vms.list()) if (vm.operation !== null) this.kick(vm.id);
  }

  /** Tries to place VMs waiting in `pending` (capacity may have been freed). */
  async schedulePending(): Promise<void> {
    for (const vm of await this.#o.store.vms.list({ state: 'pending' })) this.kick(vm.id);
  }

  /** An operation ended: whatever it freed (a reservation, a migration's source, a failed VM's room) may let the VMs waiting for room in. */
  #wakePending(): void {
    if (this.#closed) return;
    for (const vmId of this.#waitingForRoom) this.kick(vmId);
  }

  /** VMs whose operation is being driven right now (the /metrics gauge). */
  get inFlight(): number {
    return this.#driving.size;
  }

  /** Waits for the background work to end (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#driving.size > 0) await Promise.allSettled([...this.#driving.values()]);
  }

  /** Stops driving: agent calls in flight are abandoned, and their operations resume with the next controller. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.idle();
  }

  async #drive(vmId: string): Promise<void> {
    let unreachableSince: number | undefined;
    let attempt = 0;
    for (;;) {
      if (this.#closed) return;
      this.#waitingForRoom.delete(vmId);
      const vm = await this.#o.store.vms.get(vmId);
      if (vm.operation === null) return;
      const plan = planOf({ action: vm.operation.action as VmAction, from: vm.operation.from });
      const step = plan.steps.find((s) => s.state === vm.state);
      if (step === undefined) {
        // Moved on behind our back (host lost, an admin): the operation is over.
        await this.#write(vm, { to: vm.state, action: plan.action, operationEnds: true });
        return;
      }
      let outcome: PhaseOutcome;
      try {
        outcome = await this.#runPhase(vm, step.phase);
      } catch (err) {
        if (err instanceof StaleStateError) return; // someone else moved the VM on
        if (this.#closed) return; // not a failure: the step re-runs when the controller is back
        // Retried until the host monitor declares the host lost; one it already has (in `error`) is not waited for.
        if (isUnreachable(err) && !OWN_FAILURE_RULES.has(step.phase) && !(await this.#hostLost(vm))) {
          unreachableSince ??= Date.now();
          if (Date.now() - unreachableSince < this.#retry.giveUpAfterMs) {
            const waitMs = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** attempt++);
            this.#o.logger.warn({ vmId, phase: step.phase, attempt, waitMs, err: errorMessage(err) }, 'agent unreachable; the step is retried');
            // Re-read at the top: a host the monitor declared lost meanwhile has ended the operation.
            if (await sleep(waitMs, this.#stopping.signal).then(() => true, () => false)) continue;
            return;
          }
        }
        await this.#fail(vm, plan, step, err);
        this.#wakePending();
        return;
      }
      unreachableSince = undefined;
      attempt = 0;
      if (outcome === 'wait') {
        if (step.phase === 'schedule') this.#waitingForRoom.add(vmId);
        return;
      }
      if (outcome === 'advanced') continue; // the phase wrote the next state itself (scheduling binds and moves to prolog)
      // A phase may update the row (epilog releases the reservation), not its state: confirm on the fresh version.
      const fresh = await this.#o.store.vms.get(vmId);
      if (fresh.state !== vm.state) {
        this.#o.logger.warn({ vmId, expected: vm.state, found: fresh.state, phase: step.phase }, 'VM moved on during a step; its result is dropped');
        return;
      }
      const r = applyEvent(vm.state, { type: 'step-done', phase: step.phase }, plan);
      const note = this.#notes.get(vmId);
      this.#notes.delete(vmId);
      const written = await this.#write(fresh, { to: r.state, action: plan.action, operationEnds: r.next === undefined, ...note });
      if (!written || r.next === undefined) {
        this.#wakePending();
        return;
      }
    }
  }

  async #hostLost(vm: Vm): Promise<boolean> {
    if (vm.hostId === null) return false;
    return (await findOrUndefined(this.#o.store.hosts.get(vm.hostId)))?.state === 'error';
  }

  async #fail(stale: Vm, plan: ActionPlan, step: PlanStep, err: unknown): Promise<void> {
    // A step may have updated the row (a migration's commit moves the VM): write on the fresh version.
    const vm = await this.#o.store.vms.get(stale.id);
    if (vm.state !== stale.state) return;
    const fatal = typeof err === 'object' && err !== null && (err as { fatal?: unknown }).fatal === true;
    const r = applyEvent(vm.state, { type: 'step-failed', phase: step.phase, ...(fatal ? { fatal } : {}) }, plan);
    const reason = `${step.phase} failed: ${errorMessage(err)}`;
    this.#o.logger.warn({ vmId: vm.id, action: plan.action, phase: step.phase, to: r.state, err }, 'step failed');
    await this.#write(vm, { to: r.state, action: plan.action, operationEnds: true, reason, stateReason: r.failedPhase !== undefined ? `${r.failedPhase}: ${errorMessage(err)}` : reason });
  }

  /** Writes a step's result; false when the VM had moved on meanwhile. */
  async #write(vm: Vm, w: { to: Vm['state']; action: string; operationEnds: boolean; reason?: string; stateReason?: string | null }): Promise<boolean> {
    try {
      await this.#o.store.vms.transition(vm.id, {
        from: [vm.state],
        to: w.to,
        action: w.action,
        expectedVersion: vm.version,
        ...(w.reason !== undefined ? { reason: w.reason } : {}),
        patch: { ...(w.operationEnds ? { operation: null } : {}), ...(w.stateReason !== undefined ? { stateReason: w.stateReason } : {}) },
      });
      this.#o.logger.info({ vmId: vm.id, from: vm.state, to: w.to, action: w.action, ...(w.reason !== undefined ? { reason: w.reason } : {}) }, 'vm state');
      return true;
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
      // Only the spec was revised meanwhile (a security-group push, a NIC or volume hot-plug): same state, same
      // operation. The step's result still holds: written on the fresh version, else the VM would sit in its
      // phase with nobody driving it (RunInstances' default group revised every new instance's spec mid-boot).
      const fresh = await findOrUndefined(this.#o.store.vms.get(vm.id));
      if (fresh !== undefined && fresh.version !== vm.version && fresh.state === vm.state && sameOperation(fresh.operation, vm.operation)) {
        return this.#write(fresh, w);
      }
      this.#o.logger.warn({ vmId: vm.id, from: vm.state, to: w.to, current: err.current }, 'state write refused: the VM changed meanwhile');
      return false;
    }
  }

  async #runPhase(vm: Vm, phase: VmPhase): Promise<PhaseOutcome> {
    if (phase === 'schedule') return this.#schedule(vm);
    const spec = vm.spec as unknown as ControllerVmSpec;
    const id = agentVmId(vm.id);
    const host = vm.hostId === null ? undefined : await this.#o.store.hosts.get(vm.hostId);
    // A VM on a remote cloud has no host: its steps are the cloud's (EC2 calls), the epilog's own clean-up follows as for any VM.
    const clouds = this.#o.clouds;
    const onCloud = host === undefined && clouds !== undefined ? await clouds.binding(vm.id) : undefined;
    if (clouds !== undefined && onCloud !== undefined && phase !== 'epilog') {
      const r = await clouds.runPhase(vm, onCloud, phase, this.#stopping.signal);
      if ('done' in r) return 'done';
      // The cloud refused the launch (its place is given back): the VM is placed again from pending.
      await this.#o.store.vms.transition(vm.id, { from: [vm.state], to: 'pending', action: 'schedule', expectedVersion: vm.version, reason: r.requeue, patch: { stateReason: r.requeue } });
      return 'advanced';
    }
    if (phase === 'epilog') {
      if (clouds !== undefined && onCloud !== undefined) await clouds.runPhase(vm, onCloud, phase, this.#stopping.signal);
      if (host) {
        await this.#o.agentFor(host).delete(id, { signal: this.#stopping.signal });
        await this.#o.store.vms.releaseFromHost(vm.id);
      }
      // Its addresses go back to their networks only once no QEMU holds them (idempotent, like the reservation's release).
      await this.#o.store.leases.release(vm.id);
      // Its volumes outlive it: detached, their files stay on their host.
      for (const v of await this.#o.store.volumes.list({ vmId: vm.id })) await this.#o.store.volumes.detach(v.id, vm.id);
      await this.#o.phases?.forget?.(vm.id);
      return 'done';
    }
    if (!host) throw new InvariantError(`VM ${vm.id} has no host for ${phase}`, { vmId: vm.id, phase });
    const agent = this.#o.agentFor(host);
    const o = { signal: this.#stopping.signal };
    switch (phase) {
      case 'prolog':
        await this.#o.failpoints?.hit('vm.prolog');
        await agent.prepare(id, spec.agent, o);
        await this.#o.failpoints?.hit('vm.prolog.done');
        return 'done';
      case 'boot':
      case 'restore': {
        await this.#o.failpoints?.hit(`vm.${phase}`);
        // A boot hands over the size the store has: a VM resized while powered off boots with its new size.
        const r = await agent.start(id, o, phase === 'boot' ? { size: { vcpus: spec.agent.vcpus, memoryMiB: spec.agent.memoryMiB } } : undefined);
        await this.#o.failpoints?.hit(`vm.${phase}.done`);
        if (r.state !== 'running') throw new AgentReportError('running', r.state, `the agent reports ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
        return 'done';
      }
      case 'shutdown':
      case 'shutdown-hard': {
        const r = await agent.powerOff(id, phase === 'shutdown-hard', o);
        if (r.state !== 'poweroff') throw new AgentReportError('poweroff', r.state, `the guest did not power off (agent reports ${r.state})`);
        return 'done';
      }
      case 'reboot':
      case 'reboot-hard': {
        const r = await agent.reboot(id, { hard: phase === 'reboot-hard', graceS: this.#o.rebootGraceS ?? 60 }, o);
        if (r.state !== 'running') throw new AgentReportError('running', r.state, `the agent reports ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
        // A reset loses what the guest had not written out: the user must be able to see that it happened, and why.
        this.#notes.set(vm.id, r.clean
          ? { reason: 'the guest shut down by itself (ACPI) and booted again', stateReason: null }
          : { reason: `reset instead of a clean reboot: ${r.resetReason ?? 'no reason given'}`, stateReason: `rebooted by a reset: ${r.resetReason ?? 'no reason given'}` });
        if (!r.clean) this.#o.logger.warn({ vmId: vm.id, reason: r.resetReason }, 'vm reset instead of a clean reboot');
        return 'done';
      }
      case 'save': {
        const r = await agent.suspend(id, o);
        if (r.state !== 'suspended') throw new AgentReportError('suspended', r.state, `the agent reports ${r.state}`);
        return 'done';
      }
      case 'epilog-stop':
      case 'prolog-resume':
      case 'migrate':
      case 'migrate-live': {
        const run = this.#o.phases?.[phase];
        if (!run) throw new UnsupportedError(phase, MISSING_PHASE[phase]);
        await run(vm, host, this.#stopping.signal);
        return 'done';
      }
      default:
        throw new UnsupportedError(phase, 'not implemented by this controller yet');
    }
  }


  async #schedule(vm: Vm): Promise<PhaseOutcome> {
    const spec = vm.spec as unknown as ControllerVmSpec;
    // A NIC's TAP goes on a bridge of the host (the network's): only hosts that report that bridge can take the VM.
    const demand = { ...spec.demand, networks: [...new Set((spec.agent.nics ?? []).flatMap((n) => (n.bridge !== undefined ? [n.bridge] : [])))] };
    // An admin's chosen host (`host` at create) decides the first placement only: a resume or recover places afresh.
    const chosen = vm.operation?.action === 'create' ? spec.deploy?.hostId : undefined;
    // Bound to a cloud already (a controller stopped between the binding and this write): the binding stands.
    const bound = await this.#o.clouds?.binding(vm.id);
    if (bound !== undefined) return this.#boundToCloud(vm, bound.cloudId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const placed = await chooseVmHost({ store: this.#o.store, hosts: this.#hosts, policy: this.#o.policy }, demand, chosen);
      if (placed.hostId === undefined) {
        let summary = placed.summary;
        // No local host takes it: a remote cloud may (an admin's chosen host is not given up for one).
        if (this.#o.clouds !== undefined && chosen === undefined) {
          const c = await this.#o.clouds.place(vm, demand, placed.summary);
          if ('bound' in c) return this.#boundToCloud(vm, c.bound.cloudId, c.cloud);
          summary = c.summary;
        }
        if (vm.stateReason !== summary) {
          await this.#o.store.vms.transition(vm.id, { from: ['pending'], to: 'pending', action: 'schedule', expectedVersion: vm.version, patch: { stateReason: summary } });
        }
        return 'wait';
      }
      const generation = this.#hosts.generation;
      try {
        await this.#o.store.vms.bindToHost(vm.id, placed.hostId, { cpus: demand.vcpus, memoryMib: demand.memoryMiB, diskMib: demand.diskMiB }, bindCheckFor(this.#o.policy), { action: 'schedule' });
        this.#hosts.reserved(placed.hostId, demand, generation);
        return 'advanced';
      } catch (err) {
        // Another VM (or controller) took the room between placement and binding, or the host changed state: read it back, place again.
        if (!(err instanceof CapacityError)) throw err;
        await this.#hosts.refreshHost(placed.hostId);
      }
    }
    return 'wait';
  }

  /** The step after a cloud binding: prolog (the launch), with the cloud named in the VM's history. */
  async #boundToCloud(vm: Vm, cloudId: string, name?: string): Promise<PhaseOutcome> {
    const cloud = name ?? (await this.#o.store.clouds.get(cloudId)).name;
    await this.#o.store.vms.transition(vm.id, { from: ['pending'], to: 'prolog', action: 'schedule', expectedVersion: vm.version, reason: `placed on cloud ${cloud}` });
    this.#o.logger.info({ vmId: vm.id, cloud }, 'vm placed on a remote cloud');
    return 'advanced';
  }
}

function sameOperation(a: Vm['operation'], b: Vm['operation']): boolean {
  return a === null || b === null ? a === b : a.action === b.action && a.from === b.from;
}
