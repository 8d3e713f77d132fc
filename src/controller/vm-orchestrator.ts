import { setMaxListeners } from 'node:events';
import { applyEvent } from '../core/vm-events.js';
import { planAction, planOf, type ActionPlan, type PlanStep, type VmAction } from '../core/vm-actions.js';
import type { VmPhase } from '../core/vm-state.js';
import { errorMessage } from '../errors/nubo-error.js';
import type { Vm } from '../store/repositories/vms-repository.js';
import { ConflictError, StaleStateError } from '../store/store-errors.js';
import { sleep } from '../util/deadline.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { inBackground } from '../store/store-priority.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';
import { isUnreachable } from './is-unreachable.js';
import { UnreachableError } from '../client/remote-error.js';
import { terminateMigratingVm } from './terminate-migrating-vm.js';
import { startRecover } from './start-recover.js';
import { SchedulingHosts } from './scheduling-hosts.js';
import type { VmOrchestratorOptions } from './vm-orchestrator-options.js';
import { runVmPhase, type PhaseOutcome, type StepNotes } from './run-vm-phase.js';
import { scheduleVm } from './schedule-vm.js';
import { placeAgain } from './place-again.js';

/** What a VM on a remote cloud cannot do: each moves or saves files of a host, and a cloud instance has none nubo can reach. */
const NOT_ON_A_CLOUD: ReadonlySet<VmAction> = new Set(['stop', 'suspend', 'migrate', 'migrate-live']);

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
  readonly #notes: StepNotes = new Map();
  readonly #hosts: SchedulingHosts;
  /** VMs left in pending for want of a host: what an ended operation wakes (listing every pending VM each time was O(VMs²) at scale). */
  readonly #waitingForRoom = new Set<string>();
  /** VMs the bursting wait policy holds back, each placed again when its wait is over (one timer a VM). */
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();

  constructor(o: VmOrchestratorOptions) {
    this.#o = o;
    this.#retry = Object.freeze({ initialMs: 250, maxMs: 5_000, giveUpAfterMs: 600_000, ...o.unreachableRetry });
    this.#hosts = new SchedulingHosts({ store: o.store, policy: o.policy });
    // Every agent call in flight listens on it until it ends (deadline() removes its listener): a hundred VMs driven
    // at once are a hundred listeners by design, not a leak — node's default limit of 10 only warned (provision-scale).
    setMaxListeners(0, this.#stopping.signal);
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
    if (this.#o.migratingBetweenClouds !== undefined && (await this.#o.migratingBetweenClouds(vm.id))) {
      throw new ConflictError('VM', 'migration', vm.name, `cannot ${action}: it is migrating between a local host and a remote cloud; wait until that ends`);
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
    // Background work for the store: nobody waits for a drive's answer, while an API request's client does (store-priority.ts).
    // Started on the event loop's next turn, not in the kicker's chain of microtasks: SQLite answers synchronously, so a
    // drive started there ran its first steps (the placement, ~1 ms) before anything the kicker awaited could go on — an
    // in-process call's answer (light-my-request resolves on a process.nextTick, after every microtask) among them, so
    // RunInstances, OCCI's create and any other create through the native routes answered after the placement rather than
    // before it. A request over a socket had its answer written already; now both are.
    this.#driving.set(vmId, inBackground(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.#o.logger.debug({ vmId }, 'vm driven');
      await this.#driveUntilQuiet(vmId);
    }));
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

  /** Whether the VM's operation is being driven right now: a step of it (an agent call) may be on its way. */
  drives(vmId: string): boolean {
    return this.#driving.has(vmId);
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
    for (const t of this.#retryTimers.values()) clearTimeout(t);
    this.#retryTimers.clear();
    this.#stopping.abort(new Error('the controller is stopping'));
    await this.idle();
  }

  async #drive(vmId: string): Promise<void> {
    let unreachableSince: number | undefined;
    let attempt = 0;
    // Hosts a prolog call of this drive may have reached (a reset, a time-out after sending): the VM may be there.
    const reached = new Set<string>();
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
        // A create's host that never got the request: placed again on another host rather than waited for.
        if (step.phase === 'prolog' && (await placeAgain(vm, err, { o: this.#o, hosts: this.#hosts, mayHaveReached: reached }))) {
          unreachableSince = undefined;
          attempt = 0;
          continue;
        }
        if (step.phase === 'prolog' && vm.hostId !== null && isUnreachable(err) && !(err instanceof UnreachableError && err.notSent)) reached.add(vm.hostId);
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

  /** Drives the VM again in `ms` (a later call replaces an earlier one); not after close. */
  #retryIn(vmId: string, ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#retryTimers.get(vmId));
    const t = setTimeout(() => {
      this.#retryTimers.delete(vmId);
      this.kick(vmId);
    }, ms);
    // A controller stopping does not wait for it: the next one measures the wait from the stored history.
    t.unref();
    this.#retryTimers.set(vmId, t);
  }

  async #runPhase(vm: Vm, phase: VmPhase): Promise<PhaseOutcome> {
    if (phase === 'schedule') return scheduleVm(vm, { o: this.#o, hosts: this.#hosts, retryIn: (ms) => this.#retryIn(vm.id, ms) });
    return runVmPhase(vm, phase, { o: this.#o, signal: this.#stopping.signal, notes: this.#notes });
  }
}

function sameOperation(a: Vm['operation'], b: Vm['operation']): boolean {
  return a === null || b === null ? a === b : a.action === b.action && a.from === b.from;
}