import { InvariantError } from '../../errors/invariant-error.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { QuotaUsage } from '../quota/quota.js';
import { leaseCharge, type AdmissionContext, type QuotaScope } from './admission-policy.js';
import { samePlacements, type Enactment, type Placement, type Segment } from './enactment.js';
import { assertLeaseRequest, type LeaseRequest } from './lease.js';
import type { LeasePolicies } from './lease-policies.js';
import type { LeaseRates, SuspendStorage } from './lease-rates.js';
import { bookSpan, nextBoundary, planEnd, planStart, type LeaseRecord } from './lease-record.js';
import { canTransitionLease, isFinalLeaseState, LEASE_STATES, type LeaseState } from './lease-state.js';
import { LeaseStateError } from './lease-state-error.js';
import { LeasePlanner } from './lease-planner.js';
import { PlanDurations } from './plan-durations.js';
import { planPreemption } from './preemption-planner.js';
import { SlotTable, type HostCapacity } from './slot-table.js';
import { TimerHeap } from './timer-heap.js';

export interface LeaseSchedulerOptions {
  readonly hosts: readonly HostCapacity[];
  readonly rates: LeaseRates;
  readonly policies: LeasePolicies;
  readonly enactment: Enactment;
  /** The limits in force for each owner, for the quota-aware admission policy (none: no limits anywhere). */
  readonly quotas?: (owner: string) => readonly QuotaScope[];
}

export type Admission = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

/**
 * The lease scheduler: admission, mapping onto hosts, backfilling and
 * preemption over a slot table, with every preparation and tear-down step
 * scheduled from the configured rates. It has no clock of its own: the
 * caller says what time it is (`advance`, `schedule`), so the controller can
 * drive it in real time and the simulator on a virtual clock. The plans
 * come from its LeasePlanner; this class keeps the books — the records, the
 * queue, what is booked, the timers — and begins each step when it is due.
 */
export class LeaseScheduler {
  readonly table: SlotTable;
  readonly durations: PlanDurations;
  private readonly leases = new Map<string, LeaseRecord>();
  /** Best-effort leases waiting to start or to resume, first come first served. */
  private queue: LeaseRecord[] = [];
  /** Leases with a plan (booked in the table). */
  private readonly planned = new Set<LeaseRecord>();
  private readonly timers = new TimerHeap<{ t: number; rec: LeaseRecord; version: number }>();
  private readonly planner: LeasePlanner;
  private seq = 0;

  constructor(private readonly o: LeaseSchedulerOptions) {
    this.table = new SlotTable(o.hosts);
    this.durations = new PlanDurations(o.rates);
    this.planner = new LeasePlanner({ hosts: o.hosts, table: this.table, durations: this.durations, rates: o.rates, policies: o.policies });
  }

  get queueLength(): number {
    return this.queue.length;
  }

  lease(id: string): Readonly<LeaseRecord> | undefined {
    return this.leases.get(id);
  }

  records(): IterableIterator<Readonly<LeaseRecord>> {
    return this.leases.values();
  }

  /** When the next planned step begins or ends (Infinity when nothing is planned). */
  nextEventTime(): number {
    for (;;) {
      const top = this.timers.peek();
      if (top === undefined) return Infinity;
      if (top.version === top.rec.version) return top.t;
      this.timers.pop();
    }
  }

  /**
   * Takes a request at time `now`. Malformed input (and a duplicate id) throws
   * a ValidationError and changes nothing; a request the policies or the
   * capacity refuse is recorded as rejected with the reason.
   */
  submit(req: LeaseRequest, now: number): Admission {
    assertLeaseRequest(req);
    if (this.leases.has(req.id)) throw new ValidationError(`lease ${req.id}`, [{ field: 'id', message: 'already taken by another lease' }]);
    const rec: LeaseRecord = { req, state: 'pending', placements: [], segments: [], cursor: 0, remainingS: req.duration, seq: this.seq++, suspensions: 0, migrations: 0, handoffs: 0, requeues: 0, version: 0 };
    this.leases.set(req.id, rec);
    const verdict = this.admit(rec, now);
    if (!verdict.accepted) {
      this.setState(rec, 'rejected');
      rec.reason = verdict.reason;
    }
    return verdict;
  }

  private admit(rec: LeaseRecord, now: number): Admission {
    const verdict = this.planner.admit(rec.req, now, (from, to) => planPreemption(this, rec, from, to, now), this.admissionContext(rec));
    if (!verdict.accepted) return verdict;
    this.setState(rec, 'accepted');
    if (verdict.plan === undefined) this.enqueue(rec);
    else this.commit(rec, verdict.plan.placements, verdict.plan.segments);
    return { accepted: true };
  }

  /** Limits from the options; usage summed over the owners' live leases but `rec` itself (asked only by policies that need it). */
  private admissionContext(rec: LeaseRecord): AdmissionContext {
    return {
      scopes: (owner) => this.o.quotas?.(owner) ?? [],
      usage: (owners) => {
        const who = new Set(owners);
        const u = { vms: 0, vcpus: 0, memoryMiB: 0, diskMiB: 0, volumes: 0, images: 0, leases: 0 };
        for (const r of this.leases.values()) {
          if (r === rec || r.req.owner === undefined || !who.has(r.req.owner) || isFinalLeaseState(r.state) || r.state === 'pending') continue;
          const c = leaseCharge(r.req);
          u.vms += c.vms;
          u.vcpus += c.vcpus;
          u.memoryMiB += c.memoryMiB;
          u.leases += c.leases;
        }
        return u satisfies QuotaUsage;
      },
    };
  }

  /** A lease's VMs ended before their reserved time (the user shut them down, the job finished): the rest of its booking is freed. */
  ended(id: string, at: number): boolean {
    const rec = this.leases.get(id);
    const run = rec?.segments[rec.cursor - 1];
    if (rec === undefined || run?.kind !== 'run' || !(run.from <= at && at < run.to)) return false;
    const oldEnd = planEnd(rec);
    const end = Math.min(at + this.o.rates.shutdownS, oldEnd);
    rec.segments = [...rec.segments.slice(0, rec.cursor - 1), { kind: 'run', from: run.from, to: at }, { kind: 'shutdown', from: at, to: end }];
    bookSpan(this.table, rec, end, oldEnd, -1);
    this.replanned(rec);
    return true;
  }

  /** Carries out every step due by `now`, in time order. */
  advance(now: number): void {
    for (let top = this.timers.peek(); top !== undefined && top.t <= now; top = this.timers.peek()) {
      this.timers.pop();
      const { rec, version, t } = top;
      if (version !== rec.version) continue;
      if (rec.cursor < rec.segments.length) {
        this.begin(rec, rec.segments[rec.cursor]!);
        rec.cursor++;
        this.timers.push({ t: nextBoundary(rec), rec, version: rec.version });
      } else {
        this.finish(rec, t);
      }
    }
  }

  /** Starts what can start at `now` from the queue, by the backfilling policy. */
  schedule(now: number): void {
    this.table.forgetBefore(now);
    this.planner.backfill(this.queue, now, (rec, plan) => this.commit(rec, plan.placements, plan.segments));
  }

  private enqueue(rec: LeaseRecord): void {
    // Sorted by submit time: a suspended lease goes back ahead of those that came after it.
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1]!.req.submit > rec.req.submit || (this.queue[i - 1]!.req.submit === rec.req.submit && this.queue[i - 1]!.seq > rec.seq))) i--;
    this.queue.splice(i, 0, rec);
  }

  /** Gives `rec` a plan on `placements` and books it. */
  commit(rec: LeaseRecord, placements: Placement[], segments: Segment[]): void {
    const i = this.queue.indexOf(rec);
    if (i >= 0) this.queue.splice(i, 1);
    rec.placements = placements;
    rec.segments = segments;
    rec.cursor = 0;
    this.setState(rec, 'scheduled');
    // Why it was requeued is said once, on the timeline of that change; a new plan is a fresh start.
    delete rec.reason;
    bookSpan(this.table, rec, planStart(rec), planEnd(rec), 1);
    this.planned.add(rec);
    this.planner.cached(rec.req, placements);
    this.replanned(rec);
  }

  /** After a plan changed: older timer entries are void, the next boundary is due. */
  replanned(rec: LeaseRecord): void {
    rec.version++;
    this.timers.push({ t: nextBoundary(rec), rec, version: rec.version });
  }

  /** Withdraws a plan that has not begun (the lease goes back to the queue) or puts it back (undo). */
  withdraw(rec: LeaseRecord): void {
    bookSpan(this.table, rec, planStart(rec), planEnd(rec), -1);
    this.planned.delete(rec);
    rec.segments = [];
    rec.placements = [];
    rec.version++;
    this.setState(rec, rec.suspendedOn !== undefined ? 'suspended' : 'accepted');
    this.enqueue(rec);
  }

  /**
   * Ends a begun plan now for an AR that needs its hosts, the lease being one
   * that cannot be suspended: by the unsuspendable policy it goes back to the
   * queue to start over with its whole duration (requeue), or is cancelled.
   * The enactment is told only by `commit` (the preemption may still be
   * undone when it does not free enough); `undo` puts everything back.
   */
  evict(rec: LeaseRecord, now: number, reason: string): { undo: () => void; commit: () => void } {
    const old = { segments: rec.segments, placements: rec.placements, cursor: rec.cursor, state: rec.state, remainingS: rec.remainingS, firstStart: rec.firstStart, reason: rec.reason, suspendedOn: rec.suspendedOn };
    const from = Math.max(now, planStart(rec));
    const to = planEnd(rec);
    const requeue = this.o.policies.unsuspendable === 'requeue';
    bookSpan(this.table, rec, from, to, -1);
    this.planned.delete(rec);
    rec.version++;
    if (requeue) {
      this.setState(rec, 'accepted');
      rec.segments = [];
      rec.placements = [];
      rec.cursor = 0;
      rec.remainingS = rec.req.duration;
      delete rec.firstStart;
      // Whatever memory it once saved is gone with its VMs: it starts over.
      delete rec.suspendedOn;
      rec.requeues++;
      this.enqueue(rec);
    } else {
      this.setState(rec, 'cancelled');
      rec.end = now;
    }
    rec.reason = reason;
    return {
      undo: () => {
        const i = this.queue.indexOf(rec);
        if (i >= 0) this.queue.splice(i, 1);
        if (requeue) rec.requeues--;
        rec.segments = old.segments;
        rec.placements = old.placements;
        rec.cursor = old.cursor;
        rec.state = old.state;
        rec.remainingS = old.remainingS;
        if (old.firstStart !== undefined) rec.firstStart = old.firstStart;
        if (old.suspendedOn !== undefined) rec.suspendedOn = old.suspendedOn;
        if (old.reason !== undefined) rec.reason = old.reason;
        else delete rec.reason;
        delete rec.end;
        bookSpan(this.table, rec, from, to, 1);
        this.planned.add(rec);
        this.replanned(rec);
      },
      commit: () => (requeue ? this.o.enactment.requeue(rec.req, old.placements, now, reason) : this.o.enactment.cancel(rec.req, old.placements, now, reason)),
    };
  }

  /** Adds a lease read back from a store (a restarted controller): booked and timed when it has a plan, else queued. */
  adopt(rec: LeaseRecord): void {
    this.leases.set(rec.req.id, rec);
    this.seq = Math.max(this.seq, rec.seq + 1);
    if (rec.segments.length > 0) {
      bookSpan(this.table, rec, planStart(rec), planEnd(rec), 1);
      this.planned.add(rec);
      this.replanned(rec);
    } else if (rec.state === 'accepted' || rec.state === 'suspended') this.enqueue(rec);
  }

  /**
   * Where a lease's saved memory lives, as its VMs' disks say (undefined: the rates' default). Plans made from now on
   * use it: a lease whose state is on shared storage resumes on any hosts with no move; one already planned keeps its
   * plan.
   */
  setSuspendStorage(id: string, where: SuspendStorage | undefined): void {
    const rec = this.leases.get(id);
    if (rec === undefined) return;
    if (where === undefined) delete rec.suspendTo;
    else rec.suspendTo = where;
  }

  /** Ends a lease early (cancelled, failed): out of the queue, its bookings from `now` on freed. @throws LeaseStateError when its state does not allow it */
  close(id: string, to: 'cancelled' | 'failed', now: number, reason?: string): Readonly<LeaseRecord> | undefined {
    const rec = this.leases.get(id);
    if (rec === undefined) return undefined;
    if (!canTransitionLease(rec.state, to)) throw new LeaseStateError(id, to === 'cancelled' ? 'cancel' : 'fail', rec.state, LEASE_STATES.filter((f) => canTransitionLease(f, to)));
    if (this.planned.delete(rec)) bookSpan(this.table, rec, Math.max(now, planStart(rec)), planEnd(rec), -1);
    const i = this.queue.indexOf(rec);
    if (i >= 0) this.queue.splice(i, 1);
    rec.version++;
    this.setState(rec, to);
    if (reason !== undefined) rec.reason = reason;
    rec.end = now;
    return rec;
  }

  /** Drops a rejected lease that was never recorded anywhere (the controller answers the refusal and keeps nothing). */
  forget(id: string): void {
    if (this.leases.get(id)?.state === 'rejected') this.leases.delete(id);
  }

  plannedLeases(): ReadonlySet<LeaseRecord> {
    return this.planned;
  }

  get policies(): LeasePolicies {
    return this.o.policies;
  }

  get rates(): LeaseRates {
    return this.o.rates;
  }

  private begin(rec: LeaseRecord, seg: Segment): void {
    const e = this.o.enactment;
    const { req, placements: pl } = rec;
    switch (seg.kind) {
      case 'prepare':
        this.setState(rec, 'preparing');
        rec.firstStart ??= seg.from;
        return e.prepare(req, pl, seg.from, seg.to);
      case 'migrate':
        this.setState(rec, 'resuming');
        rec.migrations++;
        return e.migrate(req, rec.suspendedOn ?? [], pl, seg.from, seg.to);
      case 'resume': {
        this.setState(rec, 'resuming');
        const savedOn = rec.suspendedOn ?? pl;
        // Elsewhere with no move before it: the state was read from shared storage by the new hosts.
        if (rec.segments[rec.cursor - 1]?.kind !== 'migrate' && !samePlacements(savedOn, pl)) rec.handoffs++;
        return e.resume(req, pl, seg.from, seg.to, savedOn);
      }
      case 'run':
        this.setState(rec, 'active');
        return e.run(req, pl, seg.from, seg.to);
      case 'suspend':
        this.setState(rec, 'suspending');
        rec.suspensions++;
        return e.suspend(req, pl, seg.from, seg.to);
      case 'shutdown':
        return e.shutdown(req, pl, seg.from, seg.to);
    }
  }

  private finish(rec: LeaseRecord, at: number): void {
    this.planned.delete(rec);
    const last = rec.segments[rec.segments.length - 1];
    if (last?.kind === 'suspend') {
      const run = rec.segments.find((s) => s.kind === 'run')!;
      rec.remainingS -= run.to - run.from;
      rec.suspendedOn = rec.placements;
      this.setState(rec, 'suspended');
      rec.segments = [];
      rec.placements = [];
      this.enqueue(rec);
      return;
    }
    delete rec.suspendedOn;
    this.setState(rec, 'done');
    rec.end = at;
    this.o.enactment.done(rec.req, at);
  }

  private setState(rec: LeaseRecord, to: LeaseState): void {
    if (rec.state === to) return;
    if (!canTransitionLease(rec.state, to)) throw new InvariantError(`lease ${rec.req.id}: no transition ${rec.state} → ${to}`);
    rec.state = to;
  }
}
