import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { QuotaScope } from '../../core/leases/admission-policy.js';
import type { VmShape } from '../../core/leases/lease.js';
import { LeaseScheduler } from '../../core/leases/lease-scheduler.js';
import type { LeasePolicies } from '../../core/leases/lease-policies.js';
import type { LeaseRates } from '../../core/leases/lease-rates.js';
import { LeaseRejectedError } from '../../core/leases/lease-rejected-error.js';
import { LeaseStateError } from '../../core/leases/lease-state-error.js';
import { LEASE_STATES, canTransitionLease, isFinalLeaseState } from '../../core/leases/lease-state.js';
import { errorMessage } from '../../errors/nubo-error.js';
import type { Store } from '../../store/open-store.js';
import type { JsonObject } from '../../store/store-context.js';
import type { CapacityLease, LeaseWrite, PendingStep } from '../../store/repositories/capacity-leases-repository.js';
import type { Host } from '../../store/repositories/hosts-repository.js';
import type { Failpoints } from '../../util/failpoints.js';
import type { LeaseActions } from './lease-actions.js';
import { DEFAULT_LEASE_LIMITS, type LeaseLimits } from './lease-limits.js';
import { externalVmUse, leasePlanningHosts, leaseHostsKey } from './lease-host-capacity.js';
import { HostNumbers, leaseRecordOf, leaseRequestOf, snapshotOf } from './lease-record-of.js';
import { checkLeaseSubmission, type LeaseSubmission } from './lease-submission.js';
import { quotaScopesOf } from './quota-scopes-of.js';
import { leaseSuspendStorage } from './lease-suspend-storage.js';
import { runLeaseStep } from './run-lease-step.js';
import { StepCollector, type CollectedStep } from './step-collector.js';

/** One lease's write: its change and timeline entries, the snapshot text it leaves (none: only a step), the steps to run after. */
interface PendingWrite extends LeaseWrite {
  readonly text?: string | undefined;
  readonly steps: readonly PendingStep[];
}

/** Hosts whose heartbeat is late, each with its whole capacity (booked as taken while it is). */
const downHosts = (hosts: readonly Host[]): Map<string, VmShape> => new Map(hosts.filter((h) => h.state === 'error').map((h) => [h.id, { cpus: h.total.cpus, memoryMiB: h.total.memoryMib }]));

const LIVE: ReadonlySet<string> = new Set(LEASE_STATES.filter((s) => !isFinalLeaseState(s)));

export interface LeaseServiceOptions {
  readonly store: Store;
  readonly actions: LeaseActions;
  readonly policies: LeasePolicies;
  readonly rates: LeaseRates;
  readonly limits?: Partial<LeaseLimits> | undefined;
  readonly logger: Logger;
  readonly failpoints?: Failpoints | undefined;
  /** Epoch seconds; tests bring their own clock. */
  readonly clock?: (() => number) | undefined;
  /** How often due steps are begun (default 1 s); 0: only by `tick()` (tests). */
  readonly tickMs?: number | undefined;
  /** How long one step (creating, suspending, moving, resuming the lease's VMs) may take before the lease fails (default 15 min). */
  readonly stepTimeoutMs?: number | undefined;
  /** The placement policy's CPU overcommit, for hosts without one of their own (default 1): leases book vCPUs as placement counts them. */
  readonly cpuOvercommit?: number | undefined;
}

/**
 * Capacity leases in the live controller: the very scheduler of core/leases
 * (slot table, admission, backfilling, preemption) on the real clock, its
 * plans carried out on real VMs. Every plan change is written to the store
 * as it happens; every step the scheduler begins is journaled (`pending_step`)
 * before its side effect and cleared when done, so `start` after a restart
 * rebuilds the slot table from the store and finishes the journaled steps.
 * VMs that no lease made (plain `vm create`) are counted as capacity taken,
 * from now on, on their hosts. All scheduler work runs one call at a time.
 */
export class LeaseService {
  readonly #o: LeaseServiceOptions;
  readonly #limits: LeaseLimits;
  readonly #clock: () => number;
  readonly #stopping = new AbortController();
  #scheduler!: LeaseScheduler;
  #steps!: StepCollector;
  #hosts = new HostNumbers([]);
  /** The hosts and capacities the scheduler's table was built over (leaseHostsKey). */
  #hostsKey = '';
  #hostCaps: readonly Host[] = [];
  /** Hosts that missed heartbeats (state `error`): kept in the table so their plans survive a blip, and taken as full so nothing new goes there. */
  #down = new Map<string, VmShape>();
  #external = new Map<number, VmShape>();
  #persisted = new Map<string, string>();
  /** The limits in force for the owner of the lease being admitted (quota-aware admission), read from the store just before. */
  #scopes = new Map<string, readonly QuotaScope[]>();
  #serial: Promise<unknown> = Promise.resolve();
  readonly #chains = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: LeaseServiceOptions) {
    this.#o = o;
    this.#limits = { ...DEFAULT_LEASE_LIMITS, ...o.limits };
    this.#clock = o.clock ?? (() => Date.now() / 1000);
  }

  /** Rebuilds the scheduler from the store, finishes the journaled steps, and begins the real-clock loop. */
  async start(): Promise<void> {
    await this.#serially(() => this.#rebuild(true));
    const every = this.#o.tickMs ?? 1000;
    if (every > 0) this.#timer = setInterval(() => void this.tick().catch((err: unknown) => this.#o.logger.error({ err: errorMessage(err) }, 'lease tick failed')), every);
  }

  /** Stops the loop; steps in flight are abandoned and stay journaled for the next start. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopping.abort();
    await this.#serial.catch(() => {});
    await Promise.allSettled([...this.#chains.values()]);
  }

  /** Waits until no step is being carried out (tests). */
  async idle(): Promise<void> {
    await this.#serial.catch(() => {});
    while (this.#chains.size > 0) await Promise.allSettled([...this.#chains.values()]);
  }

  /** Begins what is due now: plans' next steps, queued leases that fit. */
  tick(): Promise<void> {
    return this.#serially(async () => {
      // Nothing planned, nothing queued: there is nothing to begin, and the fleet's hosts and VMs are not read —
      // at 1,000 hosts and 10,000 VMs that read, every second, was an idle controller's largest store cost
      // (bench/scale.ts). A submission reads them before it is admitted.
      if (this.#idle()) return;
      await this.#syncHosts();
      await this.#carryForward(this.#clock());
    });
  }

  /** No lease holds a plan or waits in the queue. */
  #idle(): boolean {
    return this.#scheduler.queueLength === 0 && this.#scheduler.plannedLeases().size === 0;
  }

  /** The hosts as stored now: late ones booked as full, and a changed set of hosts rebuilds the scheduler over it. */
  async #syncHosts(): Promise<void> {
    const hosts = await this.#enabledHosts();
    this.#down = downHosts(hosts);
    // A host come or gone, or its capacity changed (`nubo host update --cpu-overcommit`): the table is built again.
    if (leaseHostsKey(hosts) !== this.#hostsKey) await this.#rebuild(false);
  }

  /**
   * Admits a lease or refuses it at once: bad input is a ValidationError naming
   * the field, a lease the policies or the capacity refuse a LeaseRejectedError
   * with the reason — either way nothing is written.
   */
  submit(sub: LeaseSubmission): Promise<CapacityLease> {
    return this.#serially(async () => {
      // The ticks skip reading the hosts while no lease is live: this admission sees them as they are now.
      await this.#syncHosts();
      const now = this.#clock();
      checkLeaseSubmission(sub, now, this.#limits, this.#hostCaps);
      await this.#refreshExternal(now);
      const id = randomUUID();
      const req = leaseRequestOf({ id, ownerId: sub.ownerId, kind: sub.kind, submitS: now, startS: sub.startS ?? null, durationS: sub.durationS, vmCount: sub.count, vcpus: sub.vcpus, memoryMib: sub.memoryMib, preemptible: sub.preemptible } as CapacityLease);
      this.#scopes = new Map<string, readonly QuotaScope[]>(this.#o.policies.admission.name === 'quota-aware' ? [[sub.ownerId, await quotaScopesOf(this.#o.store, sub.ownerId)]] : []);
      const verdict = this.#scheduler.submit(req, now);
      if (!verdict.accepted) {
        this.#scheduler.forget(id);
        throw new LeaseRejectedError(sub.kind, verdict.reason);
      }
      // Where its memory will be saved, from its template's disk (it has no VMs yet): what its gap runs and resumes are planned by.
      this.#scheduler.setSuspendStorage(id, await leaseSuspendStorage(this.#o.store, { id, templateId: sub.templateId }));
      const rec = this.#scheduler.lease(id)!;
      const snap = snapshotOf(rec, this.#hosts);
      // What its admission did to others (plans cut, leases requeued or cancelled, with their reasons and the steps that
      // end their VMs) is written with it, in one transaction, before the queue is passed: a controller that dies there
      // leaves neither the lease nor the cuts, or both; and a requeued lease given a plan at once still shows its requeue
      // and why on its timeline.
      const cuts = this.#collect();
      try {
        await this.#o.store.capacityLeases.admit(
          { id, ownerId: sub.ownerId, kind: sub.kind, state: rec.state, seq: rec.seq, submitS: now, startS: sub.startS, durationS: sub.durationS, vmCount: sub.count, vcpus: sub.vcpus, memoryMib: sub.memoryMib, templateId: sub.templateId, preemptible: sub.preemptible, plan: snap.plan },
          cuts,
          async () => this.#o.failpoints?.hit('lease-admit'),
        );
      } catch (err) {
        // Not recorded: the scheduler must not hold what the store does not know (the preempted plans it cut are rebuilt with it).
        await this.#rebuild(false);
        throw err;
      }
      this.#persisted.set(id, JSON.stringify(snap));
      for (const w of cuts) this.#written(w);
      this.#o.logger.info({ leaseId: id, kind: sub.kind, state: rec.state, cut: cuts.map((w) => w.id) }, 'lease admitted');
      // Written, nothing of it begun: a restart from here finds the cuts' steps journaled and carries them out.
      await this.#o.failpoints?.hit('lease-admit.done');
      this.#chainAll(cuts);
      await this.#carryForward(now);
      return this.#o.store.capacityLeases.get(id);
    });
  }

  /** Cancels a lease: its bookings are freed and its VMs terminated. @throws LeaseStateError when it is mid-suspend, mid-resume or over */
  cancel(id: string): Promise<CapacityLease> {
    return this.#serially(async () => {
      const now = this.#clock();
      const rec = this.#scheduler.lease(id);
      if (rec === undefined) {
        const l = await this.#o.store.capacityLeases.get(id);
        throw new LeaseStateError(id, 'cancel', l.state, LEASE_STATES.filter((s) => canTransitionLease(s, 'cancelled')));
      }
      const closed = this.#scheduler.close(id, 'cancelled', now, 'cancelled by its owner or an admin')!;
      // Written with its end: a controller that dies here leaves the termination journaled, never a cancelled lease with VMs running.
      this.#steps.shutdown(closed.req, [], now);
      await this.#persist();
      await this.#carryForward(now);
      return this.#o.store.capacityLeases.get(id);
    });
  }

  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#serial.then(fn, fn);
    this.#serial = p.catch(() => {});
    return p;
  }

  async #enabledHosts(): Promise<Host[]> {
    return leasePlanningHosts(this.#o.store, this.#o.cpuOvercommit);
  }

  /** A fresh scheduler from the store's hosts and live leases; `finish`: also run the steps journaled and not done (a restart). */
  async #rebuild(finish: boolean): Promise<void> {
    const hosts = await this.#enabledHosts();
    this.#down = downHosts(hosts);
    this.#hostCaps = hosts.filter((h) => h.state === 'enabled');
    this.#hosts = new HostNumbers(hosts.map((h) => h.id));
    this.#hostsKey = leaseHostsKey(hosts);
    this.#steps = new StepCollector();
    this.#scheduler = new LeaseScheduler({
      hosts: hosts.map((h) => ({ cpus: h.total.cpus, memoryMiB: h.total.memoryMib })), rates: this.#o.rates, policies: this.#o.policies, enactment: this.#steps,
      quotas: (owner) => this.#scopes.get(owner) ?? [],
    });
    this.#external = new Map();
    this.#persisted = new Map();
    for (const l of await this.#o.store.capacityLeases.list({ live: true })) {
      if (!LIVE.has(l.state)) {
        // Ended (cancelled, failed) with its VMs' termination journaled and not done: finished, not scheduled.
        if (finish && l.pendingStep !== null) this.#chain(l.id, l.pendingStep);
        continue;
      }
      const rec = leaseRecordOf(l, this.#hosts);
      if (rec === undefined) {
        await this.#o.store.capacityLeases.update(l.id, { state: 'failed', reason: 'a host of its plan is no longer enabled', pendingStep: null }, 'state');
        continue;
      }
      const where = await leaseSuspendStorage(this.#o.store, l);
      if (where !== undefined) rec.suspendTo = where;
      this.#scheduler.adopt(rec);
      this.#persisted.set(l.id, JSON.stringify(snapshotOf(rec, this.#hosts)));
      if (finish && l.pendingStep !== null) {
        this.#o.logger.info({ leaseId: l.id, step: l.pendingStep.kind }, 'finishing the lease step in flight at the last stop');
        this.#chain(l.id, l.pendingStep);
      }
    }
  }

  async #carryForward(now: number): Promise<void> {
    await this.#refreshExternal(now);
    await this.#advanceTo(now);
    this.#scheduler.schedule(now);
    // A lease the queue just gave a plan is written `scheduled` before its first step begins.
    await this.#persist();
    await this.#advanceTo(now);
  }

  /**
   * Advances one plan boundary at a time, each written with the steps it
   * begins: every state a lease passes through reaches the timeline and the
   * event stream, also when a restarted controller catches up on a long stop.
   */
  async #advanceTo(now: number): Promise<void> {
    for (let t = this.#scheduler.nextEventTime(); t <= now; t = this.#scheduler.nextEventTime()) {
      this.#scheduler.advance(t);
      await this.#persist();
    }
  }

  /** Books what VMs outside live leases take on each host, from now on (it changes as they come and go). */
  async #refreshExternal(now: number): Promise<void> {
    const used = await externalVmUse(this.#o.store);
    this.#hosts.ids.forEach((id, host) => {
      const next = this.#down.get(id) ?? used.get(id);
      const prev = this.#external.get(host);
      if (prev?.cpus === next?.cpus && prev?.memoryMiB === next?.memoryMiB) return;
      const booking = { host, from: now, to: Infinity, vms: 1, preemptible: false };
      if (prev) this.#scheduler.table.release({ ...booking, shape: prev });
      if (next) this.#scheduler.table.book({ ...booking, shape: next });
      if (next) this.#external.set(host, next);
      else this.#external.delete(host);
    });
  }

  /**
   * Writes every lease whose state or plan changed since it was last written,
   * each in one transaction with the steps the scheduler began for it (the
   * journal, before any side effect), then queues those steps behind the
   * lease's earlier ones. Of several steps begun at once the last is the one
   * journaled (a restart repeats it; each step is idempotent).
   */
  async #persist(): Promise<void> {
    const writes = this.#collect();
    for (const w of writes) {
      await this.#o.store.capacityLeases.record(w.id, w.change, w.entries);
      this.#written(w);
    }
    this.#chainAll(writes);
  }

  /** What `#persist` writes: each lease whose state or plan changed, or that began steps, with its timeline entries. */
  #collect(): PendingWrite[] {
    const begun = new Map<string, PendingStep[]>();
    for (const step of this.#steps.take()) begun.set(step.leaseId, [...(begun.get(step.leaseId) ?? []), this.#pendingOf(step)]);
    const out: PendingWrite[] = [];
    for (const rec of this.#scheduler.records()) {
      const id = rec.req.id;
      const before = this.#persisted.get(id);
      if (before === undefined) continue;
      const steps = begun.get(id) ?? [];
      begun.delete(id);
      const snap = snapshotOf(rec, this.#hosts);
      const text = JSON.stringify(snap);
      if (text === before && steps.length === 0) continue;
      const entries: { kind: string; detail?: JsonObject }[] = [];
      if (text !== before) entries.push({ kind: (JSON.parse(before) as { state: string }).state !== snap.state ? 'state' : 'planned' });
      for (const st of steps) entries.push({ kind: 'step', detail: { step: st.kind } });
      const retireVms = steps.some((st) => st.kind === 'requeue');
      out.push({ id, change: { ...(text !== before ? snap : {}), ...(steps.length > 0 ? { pendingStep: steps.at(-1)! } : {}), ...(retireVms ? { retireVms } : {}) }, entries, text, steps });
    }
    // A lease the scheduler holds and this controller never wrote (none should): its step is still journaled before it runs.
    for (const [id, steps] of begun) out.push({ id, change: { pendingStep: steps.at(-1)! }, entries: steps.map((st) => ({ kind: 'step', detail: { step: st.kind } })), steps });
    return out;
  }

  #written(w: PendingWrite): void {
    if (w.text !== undefined) this.#persisted.set(w.id, w.text);
  }

  /** Once written: each lease's steps queued behind its earlier ones. */
  #chainAll(writes: readonly PendingWrite[]): void {
    for (const w of writes) for (const st of w.steps) this.#chain(w.id, st);
  }

  #pendingOf(step: CollectedStep): PendingStep {
    return { kind: step.kind, placements: this.#hosts.toStore(step.placements), ...(step.from ? { from: this.#hosts.toStore(step.from) } : {}), at: step.at };
  }

  #chain(leaseId: string, step: PendingStep): void {
    const prev = this.#chains.get(leaseId) ?? Promise.resolve();
    const next = prev.then(() => this.#carryOut(leaseId, step));
    this.#chains.set(leaseId, next);
    void next.finally(() => {
      if (this.#chains.get(leaseId) === next) this.#chains.delete(leaseId);
    });
  }

  async #refreshSuspendStorage(leaseId: string): Promise<void> {
    const lease = await this.#o.store.capacityLeases.get(leaseId);
    const where = await leaseSuspendStorage(this.#o.store, lease);
    await this.#serially(async () => this.#scheduler.setSuspendStorage(leaseId, where));
  }

  async #carryOut(leaseId: string, step: PendingStep): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(this.#o.stepTimeoutMs ?? 15 * 60_000)]);
    const log = this.#o.logger.child({ leaseId, step: step.kind });
    try {
      log.info('lease step begins');
      await runLeaseStep({ store: this.#o.store, actions: this.#o.actions, failpoints: this.#o.failpoints }, leaseId, step, signal);
      // Its side effects are done and the journal still says it is not: a restart repeats it (idempotent), it must not do it twice.
      await this.#o.failpoints?.hit(`lease-${step.kind}.done`);
      const cur = await this.#o.store.capacityLeases.get(leaseId);
      // A later step may have been journaled meanwhile: only this one's mark is cleared.
      const mine = cur.pendingStep?.kind === step.kind && cur.pendingStep.at === step.at;
      await this.#o.store.capacityLeases.update(leaseId, mine ? { pendingStep: null } : {}, 'step-done', { step: step.kind });
      log.info('lease step done');
      // Its VMs were just made, or saved: where their disks are (a disk may have moved datastore while it ran) says where the
      // saved memory is, and so where the lease may resume.
      // Not a failure of the step: the lease keeps the storage it was planned with.
      if (step.kind === 'prepare' || step.kind === 'suspend') await this.#refreshSuspendStorage(leaseId).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'where the lease\'s memory is saved could not be read'));
    } catch (err) {
      if (this.#stopping.signal.aborted) return;
      const reason = `${step.kind} failed: ${errorMessage(err)}`;
      log.error({ err: errorMessage(err) }, 'lease step failed');
      await this.#serially(async () => {
        const rec = this.#scheduler.lease(leaseId);
        const failed = rec !== undefined && canTransitionLease(rec.state, 'failed');
        if (failed) this.#scheduler.close(leaseId, 'failed', this.#clock(), reason);
        // A failed lease keeps nothing: its VMs (a crashed one, a half-saved one) are ended by a journaled step of their own, so their hosts' capacity and files are freed.
        // Its end, the failed step and that release are one write: a controller that dies here cannot leave the lease failed with its VMs held, nor repeat the failed step.
        const release: PendingStep | null = step.kind !== 'shutdown' && step.kind !== 'release' && step.kind !== 'cancel' ? { kind: 'release', placements: [], at: this.#clock() } : null;
        const snap = failed ? snapshotOf(rec, this.#hosts) : undefined;
        await this.#o.store.capacityLeases.record(leaseId, { ...snap, pendingStep: release }, [
          ...(snap !== undefined ? [{ kind: 'state' }] : []),
          { kind: 'step-failed', detail: { step: step.kind, error: reason } },
          ...(release !== null ? [{ kind: 'step', detail: { step: 'release' } }] : []),
        ]);
        if (snap !== undefined && this.#persisted.has(leaseId)) this.#persisted.set(leaseId, JSON.stringify(snap));
        await this.#persist();
        if (release !== null) this.#chain(leaseId, release);
      }).catch((e: unknown) => log.error({ err: errorMessage(e) }, 'recording the failed step failed'));
    }
  }
}
