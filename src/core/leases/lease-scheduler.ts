import { InvariantError } from '../../errors/invariant-error.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { Enactment, Placement, Segment, SegmentKind } from './enactment.js';
import { candidatesOver, earliestStart, earliestStartOn, totalFree } from './earliest-start.js';
import type { HostCandidate } from './host-selection-policy.js';
import { assertLeaseRequest, type LeaseRequest } from './lease.js';
import type { LeasePolicies } from './lease-policies.js';
import type { LeaseRates } from './lease-rates.js';
import { bookSpan, nextBoundary, planEnd, planStart, type LeaseRecord } from './lease-record.js';
import { canTransitionLease, LEASE_STATES, type LeaseState } from './lease-state.js';
import { LeaseStateError } from './lease-state-error.js';
import { buildPlan, PlanDurations } from './plan-durations.js';
import { planPreemption } from './preemption-planner.js';
import { SlotTable, type HostCapacity } from './slot-table.js';
import { TimerHeap } from './timer-heap.js';
import { vmsPerHost } from './vms-per-host.js';

export interface LeaseSchedulerOptions {
  readonly hosts: readonly HostCapacity[];
  readonly rates: LeaseRates;
  readonly policies: LeasePolicies;
  readonly enactment: Enactment;
}

export type Admission = { readonly accepted: true } | { readonly accepted: false; readonly reason: string };

type Pre = (placements: readonly Placement[], worst: boolean) => [SegmentKind, number][];

/**
 * The lease scheduler: admission, mapping onto hosts, backfilling and
 * preemption over a slot table, with every preparation and tear-down step
 * scheduled from the configured rates. It has no clock of its own: the
 * caller says what time it is (`advance`, `schedule`), so the controller can
 * drive it in real time and the simulator on a virtual clock.
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
  private readonly cache: Set<string>[];
  private seq = 0;
  private readonly perHostMax: (shape: LeaseRequest['shape']) => number;

  constructor(private readonly o: LeaseSchedulerOptions) {
    this.table = new SlotTable(o.hosts);
    this.durations = new PlanDurations(o.rates);
    this.cache = o.hosts.map(() => new Set());
    this.perHostMax = vmsPerHost(o.hosts);
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
    const rec: LeaseRecord = { req, state: 'pending', placements: [], segments: [], cursor: 0, remainingS: req.duration, seq: this.seq++, suspensions: 0, migrations: 0, version: 0 };
    this.leases.set(req.id, rec);
    const verdict = this.admit(rec, now);
    if (!verdict.accepted) {
      this.setState(rec, 'rejected');
      rec.reason = verdict.reason;
    }
    return verdict;
  }

  private admit(rec: LeaseRecord, now: number): Admission {
    const req = rec.req;
    const policy = this.o.policies.admission.admit(req);
    if (!policy.ok) return { accepted: false, reason: policy.reason };
    const capacity = this.perHostMax(req.shape) * this.o.hosts.length;
    if (req.vms > capacity) return { accepted: false, reason: `needs ${req.vms} VMs of ${req.shape.cpus} CPU / ${req.shape.memoryMiB} MiB; all the hosts together hold ${capacity}` };
    if (req.kind === 'be') {
      this.setState(rec, 'accepted');
      this.enqueue(rec);
      return { accepted: true };
    }
    const start = req.kind === 'ar' ? req.start! : now;
    const prepS = this.durations.prepare(req, [], () => false);
    const from = start - (req.kind === 'ar' ? prepS : 0);
    if (from < now) return { accepted: false, reason: `starts too soon: its preparation (${prepS.toFixed(1)} s) would have to begin ${(now - from).toFixed(1)} s ago` };
    const to = start + (req.kind === 'ar' ? 0 : prepS) + req.duration + this.o.rates.shutdownS;
    let cands = candidatesOver(this.table, from, to, req.shape);
    if (totalFree(cands) < req.vms && req.kind === 'ar') {
      cands = planPreemption(this, rec, from, to, now) ?? cands;
    }
    if (totalFree(cands) < req.vms) return { accepted: false, reason: `not enough capacity during [${from}, ${to}): ${totalFree(cands)} of ${req.vms} VMs fit${req.kind === 'ar' ? ' even after preempting what the policies allow' : ''}` };
    this.setState(rec, 'accepted');
    const placements = this.o.policies.hostSelection.allocate(cands, req.vms);
    const actualPrep = this.durations.prepare(req, placements, (h, i) => this.cache[h]!.has(i));
    const planFrom = req.kind === 'ar' ? start - actualPrep : now;
    this.commit(rec, placements, buildPlan(planFrom, [['prepare', actualPrep]], req.duration, this.o.rates.shutdownS, 0));
    return { accepted: true };
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
    const mode = this.o.policies.backfilling;
    const tentative: { rec: LeaseRecord; placements: Placement[]; from: number; to: number }[] = [];
    let room = this.hostsWithRoom(now);
    for (const rec of [...this.queue]) {
      // Nothing has room now: no lease can start, and reservations are only worked out to protect the head from those that could.
      if (room.length === 0) break;
      if (this.placeNow(rec, now, room)) {
        room = this.hostsWithRoom(now);
        continue;
      }
      if (mode === 'off') break;
      if (mode === 'aggressive' && tentative.length > 0) continue;
      const r = this.reserve(rec, now);
      if (r === undefined) continue;
      // Booked as preemptible so that a gap-filling lease is never planned to be suspended for it: only ARs do that.
      for (const p of r.placements) this.table.book({ host: p.host, from: r.from, to: r.to, vms: p.vms, shape: rec.req.shape, preemptible: true });
      tentative.push({ rec, ...r });
    }
    for (const r of tentative) for (const p of r.placements) this.table.release({ host: p.host, from: r.from, to: r.to, vms: p.vms, shape: r.rec.req.shape, preemptible: true });
  }

  /** The hosts with some room at `now`: when there are none (a saturated cluster) the queue is passed over at no cost. */
  private hostsWithRoom(now: number): number[] {
    const out: number[] = [];
    for (let h = 0; h < this.o.hosts.length; h++) {
      const u = this.table.usageAt(h, now);
      const c = this.o.hosts[h]!;
      if (u.cpus < c.cpus - 1e-9 && u.memoryMiB < c.memoryMiB - 1e-9) out.push(h);
    }
    return out;
  }

  private pre(rec: LeaseRecord): { pre: Pre; resumeOn?: Placement[] } {
    const req = rec.req;
    if (rec.state === 'suspended') {
      const on = rec.suspendedOn!;
      return {
        resumeOn: on,
        pre: (pl, worst) => {
          const same = !worst && pl.length === on.length && pl.every((p, i) => p.host === on[i]!.host && p.vms === on[i]!.vms);
          return same ? [['resume', this.durations.resume(req, pl)]] : [['migrate', this.durations.migrate(req, pl)], ['resume', this.durations.resume(req, pl)]];
        },
      };
    }
    return { pre: (pl, worst) => [['prepare', this.durations.prepare(req, worst ? [] : pl, (h, i) => this.cache[h]!.has(i))]] };
  }

  /** Tries to start `rec` at `now`: where its memory is, else (migration policy) elsewhere; in full, else in a gap before an AR. */
  private placeNow(rec: LeaseRecord, now: number, room: readonly number[]): boolean {
    const { pre, resumeOn } = this.pre(rec);
    const sum = (steps: [SegmentKind, number][]): number => steps.reduce((s, [, d]) => s + d, 0);
    if (resumeOn !== undefined) {
      if (this.tryOn(rec, now, resumeOn.map((p) => ({ host: p.host, free: p.vms })), sum(pre(resumeOn, false)), pre)) return true;
      if (this.o.policies.migration === 'no') return false;
    }
    const perHost = this.perHostMax(rec.req.shape);
    if (room.length * perHost < rec.req.vms) return false;
    const worst = [{ host: -1, vms: Math.min(rec.req.vms, perHost) }];
    const upper = sum(pre(worst, true));
    const len = upper + rec.remainingS + this.o.rates.shutdownS;
    const cands: HostCandidate[] = [];
    for (const h of room) {
      const free = this.table.vmsFree(h, now, now + len, rec.req.shape);
      if (free > 0) cands.push({ host: h, free });
    }
    if (totalFree(cands) >= rec.req.vms) {
      const pl = this.o.policies.hostSelection.allocate(cands, rec.req.vms);
      this.commit(rec, pl, buildPlan(now, pre(pl, false), rec.remainingS, this.o.rates.shutdownS, 0));
      return true;
    }
    if (!this.mayFillGaps(rec)) return false;
    const minLen = upper + this.o.rates.minRunS + this.durations.suspend(rec.req, worst);
    const gap: HostCandidate[] = [];
    for (const h of room) {
      const free = this.table.vmsFree(h, now, now + minLen, rec.req.shape);
      if (free > 0 && this.blockedByReservation(h, now, rec, 1)) gap.push({ host: h, free });
    }
    if (totalFree(gap) < rec.req.vms) return false;
    return this.tryGap(rec, now, this.o.policies.hostSelection.allocate(gap, rec.req.vms), pre);
  }

  private mayFillGaps(rec: LeaseRecord): boolean {
    return this.o.policies.suspension === 'all' && rec.req.kind === 'be' && rec.req.preemptible;
  }

  /** Whether what first stops `host` from holding `vms` more VMs after `now` is a reservation that preemptible usage does not explain (an AR). */
  private blockedByReservation(host: number, now: number, rec: LeaseRecord, vms: number): boolean {
    const b = this.table.busyFrom(host, now, rec.req.shape, vms);
    return b < Infinity && this.table.vmsFree(host, b, b, rec.req.shape, true) < vms;
  }

  /** Starts `rec` on exactly these hosts (a resume in place), in full or in the gap before an AR. */
  private tryOn(rec: LeaseRecord, now: number, on: readonly HostCandidate[], preS: number, pre: Pre): boolean {
    const pl = on.map((c) => ({ host: c.host, vms: c.free }));
    const len = preS + rec.remainingS + this.o.rates.shutdownS;
    if (pl.every((p) => this.table.vmsFree(p.host, now, now + len, rec.req.shape) >= p.vms)) {
      this.commit(rec, pl, buildPlan(now, pre(pl, false), rec.remainingS, this.o.rates.shutdownS, 0));
      return true;
    }
    if (!this.mayFillGaps(rec)) return false;
    const minLen = preS + this.o.rates.minRunS + this.durations.suspend(rec.req, pl);
    if (!pl.every((p) => this.table.vmsFree(p.host, now, now + minLen, rec.req.shape) >= p.vms)) return false;
    return this.tryGap(rec, now, pl, pre);
  }

  /** A partial run: from now until the first AR on its hosts, suspended just before it. */
  private tryGap(rec: LeaseRecord, now: number, pl: Placement[], pre: Pre): boolean {
    if (!pl.every((p) => this.blockedByReservation(p.host, now, rec, p.vms))) return false;
    const stop = Math.min(...pl.map((p) => this.table.busyFrom(p.host, now, rec.req.shape, p.vms)));
    const steps = pre(pl, false);
    const runFrom = now + steps.reduce((s, [, d]) => s + d, 0);
    const suspendS = this.durations.suspend(rec.req, pl);
    if (stop - suspendS - runFrom < this.o.rates.minRunS) return false;
    this.commit(rec, pl, buildPlan(now, steps, rec.remainingS, this.o.rates.shutdownS, suspendS, stop));
    return true;
  }

  /** The earliest full plan for a queued lease (its backfilling reservation), in place or — by policy — moved, whichever ends first. */
  private reserve(rec: LeaseRecord, now: number): { placements: Placement[]; from: number; to: number } | undefined {
    const { pre, resumeOn } = this.pre(rec);
    const sum = (steps: [SegmentKind, number][]): number => steps.reduce((s, [, d]) => s + d, 0);
    const tail = rec.remainingS + this.o.rates.shutdownS;
    let best: { placements: Placement[]; from: number; to: number } | undefined;
    if (resumeOn !== undefined) {
      const len = sum(pre(resumeOn, false)) + tail;
      const t = earliestStartOn(this.table, resumeOn, now, len, rec.req.shape);
      if (t < Infinity) best = { placements: resumeOn, from: t, to: t + len };
      if (this.o.policies.migration === 'no') return best;
    }
    const worst = [{ host: -1, vms: Math.min(rec.req.vms, this.perHostMax(rec.req.shape)) }];
    const len = sum(pre(worst, true)) + tail;
    const t = earliestStart(this.table, now, len, rec.req.shape, rec.req.vms);
    if (t === Infinity || (best !== undefined && best.to <= t + len)) return best;
    return { placements: this.o.policies.hostSelection.allocate(candidatesOver(this.table, t, t + len, rec.req.shape), rec.req.vms), from: t, to: t + len };
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
    bookSpan(this.table, rec, planStart(rec), planEnd(rec), 1);
    this.planned.add(rec);
    if (rec.req.image !== undefined && this.o.rates.reuseImages) for (const p of placements) this.cache[p.host]!.add(rec.req.image.id);
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
      case 'resume':
        this.setState(rec, 'resuming');
        return e.resume(req, pl, seg.from, seg.to);
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
