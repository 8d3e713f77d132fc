import type { Placement, Segment, SegmentKind } from './enactment.js';
import { candidatesOver, earliestStart, earliestStartOn, freeForGood, surelyFreeBy, totalFree } from './earliest-start.js';
import type { AdmissionContext } from './admission-policy.js';
import type { HostCandidate } from './host-selection-policy.js';
import type { LeaseRequest } from './lease.js';
import type { LeasePolicies } from './lease-policies.js';
import type { LeaseRates, SuspendStorage } from './lease-rates.js';
import type { LeaseRecord } from './lease-record.js';
import { buildPlan, type PlanDurations } from './plan-durations.js';
import type { HostCapacity, SlotTable } from './slot-table.js';
import { vmsPerHost } from './vms-per-host.js';

/** Where a lease's VMs go and its steps in time: what the scheduler books. */
export interface LeasePlan {
  readonly placements: Placement[];
  readonly segments: Segment[];
}

/** An admission's answer: refused with the reason, or accepted with its plan (none: queued, a best-effort lease). */
export type PlannedAdmission = { readonly accepted: true; readonly plan?: LeasePlan } | { readonly accepted: false; readonly reason: string };

export interface LeasePlannerOptions {
  readonly hosts: readonly HostCapacity[];
  readonly table: SlotTable;
  readonly durations: PlanDurations;
  readonly rates: LeaseRates;
  readonly policies: LeasePolicies;
}

type Pre = (placements: readonly Placement[], worst: boolean) => [SegmentKind, number][];
type Start = (rec: LeaseRecord, plan: LeasePlan) => void;

const sum = (steps: [SegmentKind, number][]): number => steps.reduce((s, [, d]) => s + d, 0);

/**
 * The planning half of the lease scheduler: from the slot table (and the
 * images each host holds) it works out where and when a lease can run —
 * admission, a start now in full or in the gap before an advance
 * reservation, a backfilling reservation — and returns plans; it books
 * nothing itself but the tentative reservations of one backfilling pass,
 * which it takes back before returning. The scheduler owns the bookkeeping
 * (records, queue, timers, states) and books what it is handed.
 */
export class LeasePlanner {
  private freeCache: { version: number; shape: LeaseRequest['shape']; free: readonly { from: number; vms: number }[] } | undefined;
  /** Which images each host holds (Haizea's image reuse): no transfer before a boot there. */
  private readonly cache: Set<string>[];
  private readonly perHostMax: (shape: LeaseRequest['shape']) => number;

  constructor(private readonly o: LeasePlannerOptions) {
    this.cache = o.hosts.map(() => new Set());
    this.perHostMax = vmsPerHost(o.hosts);
  }

  /** Notes that the lease's image is on these hosts from now on (when the rates say images are reused). */
  cached(req: LeaseRequest, placements: readonly Placement[]): void {
    if (req.image !== undefined && this.o.rates.reuseImages) for (const p of placements) this.cache[p.host]!.add(req.image.id);
  }

  /** Admission of a new lease at `now`; `preempt` frees [from, to) by cutting preemptible plans, for an AR that does not fit otherwise. */
  admit(req: LeaseRequest, now: number, preempt: (from: number, to: number) => HostCandidate[] | undefined, ctx: AdmissionContext): PlannedAdmission {
    const policy = this.o.policies.admission.admit(req, ctx);
    if (!policy.ok) return { accepted: false, reason: policy.reason };
    const capacity = this.perHostMax(req.shape) * this.o.hosts.length;
    if (req.vms > capacity) return { accepted: false, reason: `needs ${req.vms} VMs of ${req.shape.cpus} CPU / ${req.shape.memoryMiB} MiB; all the hosts together hold ${capacity}` };
    if (req.kind === 'be') return { accepted: true };
    const start = req.kind === 'ar' ? req.start! : now;
    const prepS = this.o.durations.prepare(req, [], () => false);
    const from = start - (req.kind === 'ar' ? prepS : 0);
    if (from < now) return { accepted: false, reason: `starts too soon: its preparation (${prepS.toFixed(1)} s) would have to begin ${(now - from).toFixed(1)} s ago` };
    const to = start + (req.kind === 'ar' ? 0 : prepS) + req.duration + this.o.rates.shutdownS;
    let cands = candidatesOver(this.o.table, from, to, req.shape);
    if (totalFree(cands) < req.vms && req.kind === 'ar') {
      cands = preempt(from, to) ?? cands;
    }
    if (totalFree(cands) < req.vms) return { accepted: false, reason: `not enough capacity during [${from}, ${to}): ${totalFree(cands)} of ${req.vms} VMs fit${req.kind === 'ar' ? ' even after preempting what the policies allow' : ''}` };
    const placements = this.select(cands, req, start);
    const actualPrep = this.o.durations.prepare(req, placements, (h, i) => this.cache[h]!.has(i));
    const planFrom = req.kind === 'ar' ? start - actualPrep : now;
    return { accepted: true, plan: { placements, segments: buildPlan(planFrom, [['prepare', actualPrep]], req.duration, this.o.rates.shutdownS, 0) } };
  }

  /**
   * One pass over the queue at `now` by the backfilling policy: `start` is
   * called (and must book the plan at once) for every lease that can start
   * now; with backfilling, the leases that cannot hold reservations while
   * the pass lasts, so that a later lease only starts when it delays none
   * of them (aggressive: only the first).
   */
  backfill(queue: readonly LeaseRecord[], now: number, start: Start): void {
    const table = this.o.table;
    const mode = this.o.policies.backfilling;
    const tentative: { rec: LeaseRecord; placements: Placement[]; from: number; to: number }[] = [];
    let room = this.hostsWithRoom(now);
    for (const rec of [...queue]) {
      // Nothing has room now: no lease can start, and reservations are only worked out to protect the head from those that could.
      if (room.length === 0) break;
      const plan = this.startNow(rec, now, room);
      if (plan !== undefined) {
        start(rec, plan);
        room = this.hostsWithRoom(now);
        continue;
      }
      if (mode === 'off') break;
      // Aggressive: only the head holds a reservation — and every suspended lease that may resume only where its memory
      // is. Such a lease needs all of its own hosts free at once; without a reservation each of them is taken by a later
      // lease as soon as it frees, and it waits for as long as the queue keeps coming (it could start nowhere else).
      if (mode === 'aggressive' && tentative.length > 0 && !this.pinned(rec)) continue;
      const r = this.reserve(rec, now);
      if (r === undefined) continue;
      // Booked as preemptible so that a gap-filling lease is never planned to be suspended for it: only ARs do that.
      for (const p of r.placements) table.book({ host: p.host, from: r.from, to: r.to, vms: p.vms, shape: rec.req.shape, preemptible: true });
      tentative.push({ rec, ...r });
    }
    for (const r of tentative) for (const p of r.placements) table.release({ host: p.host, from: r.from, to: r.to, vms: p.vms, shape: r.rec.req.shape, preemptible: true });
  }

  /** The hosts with some room at `now`: when there are none (a saturated cluster) the queue is passed over at no cost. */
  private hostsWithRoom(now: number): number[] {
    const out: number[] = [];
    for (let h = 0; h < this.o.hosts.length; h++) {
      const u = this.o.table.usageAt(h, now);
      const c = this.o.hosts[h]!;
      if (u.cpus < c.cpus - 1e-9 && u.memoryMiB < c.memoryMiB - 1e-9) out.push(h);
    }
    return out;
  }

  /**
   * The steps before a lease runs on some placements: a fresh one prepares; a suspended one resumes — with its state on
   * shared storage, on whichever hosts (every host reads the state file); with local storage, moved first unless it
   * stays where its memory is.
   */
  private pre(rec: LeaseRecord): { pre: Pre; resumeOn?: Placement[] } {
    const req = rec.req;
    const d = this.o.durations;
    if (rec.state === 'suspended') {
      const on = rec.suspendedOn!;
      const shared = this.storage(rec) === 'shared';
      return {
        resumeOn: on,
        pre: (pl, worst) => {
          const same = shared || (!worst && pl.length === on.length && pl.every((p, i) => p.host === on[i]!.host && p.vms === on[i]!.vms));
          return same ? [['resume', d.resume(req, pl)]] : [['migrate', d.migrate(req, pl)], ['resume', d.resume(req, pl)]];
        },
      };
    }
    return { pre: (pl, worst) => [['prepare', d.prepare(req, worst ? [] : pl, (h, i) => this.cache[h]!.has(i))]] };
  }

  /** A plan that starts `rec` at `now`: where its memory is, else (shared storage, or the migration policy) elsewhere; in full, else in a gap before an AR. */
  private startNow(rec: LeaseRecord, now: number, room: readonly number[]): LeasePlan | undefined {
    const { pre, resumeOn } = this.pre(rec);
    const table = this.o.table;
    if (resumeOn !== undefined) {
      const inPlace = this.startOn(rec, now, resumeOn.map((p) => ({ host: p.host, free: p.vms })), sum(pre(resumeOn, false)), pre);
      if (inPlace !== undefined || !this.mayResumeElsewhere(rec)) return inPlace;
    }
    const perHost = this.perHostMax(rec.req.shape);
    if (room.length * perHost < rec.req.vms) return undefined;
    const worst = [{ host: -1, vms: Math.min(rec.req.vms, perHost) }];
    const upper = sum(pre(worst, true));
    const len = upper + rec.remainingS + this.o.rates.shutdownS;
    const cands: HostCandidate[] = [];
    for (const h of room) {
      const free = table.vmsFree(h, now, now + len, rec.req.shape);
      if (free > 0) cands.push({ host: h, free });
    }
    if (totalFree(cands) >= rec.req.vms) {
      const pl = this.select(cands, rec.req, now);
      return { placements: pl, segments: buildPlan(now, pre(pl, false), rec.remainingS, this.o.rates.shutdownS, 0) };
    }
    if (!this.mayFillGaps(rec)) return undefined;
    const minLen = upper + this.o.rates.minRunS + this.o.durations.suspend(rec.req, worst);
    const gap: HostCandidate[] = [];
    for (const h of room) {
      const free = table.vmsFree(h, now, now + minLen, rec.req.shape);
      if (free > 0 && this.blockedByReservation(h, now, rec, 1)) gap.push({ host: h, free });
    }
    if (totalFree(gap) < rec.req.vms) return undefined;
    const plan = this.inGap(rec, now, this.select(gap, rec.req, now), pre);
    return plan === undefined || this.gapEndsLater(rec, now, plan, len) ? undefined : plan;
  }

  /**
   * Whether a run in a gap would end the lease later than waiting for a full start anywhere (`len` long). With its
   * state local and no migration, a lease suspended after a gap run may resume only on the gap's hosts: if those are
   * taken long after the AR (other ARs on them), it would sit suspended while hosts elsewhere are free — worse than
   * never having started. Predicted from what is booked now (the pass's reservations included).
   */
  private gapEndsLater(rec: LeaseRecord, now: number, plan: LeasePlan, len: number): boolean {
    if (this.mayResumeElsewhere(rec)) return false;
    const run = plan.segments.find((x) => x.kind === 'run')!;
    const stop = plan.segments[plan.segments.length - 1]!.to;
    const rest = this.o.durations.resume(rec.req, plan.placements) + rec.remainingS - (run.to - run.from) + this.o.rates.shutdownS;
    // Waiting ends by then at the latest (enough hosts free for good): a resume that cannot end by then need not be searched for.
    const waitBy = surelyFreeBy(this.freeForGood(rec.req.shape), now, rec.req.vms) + len;
    const resumeAt = earliestStartOn(this.o.table, plan.placements, stop, rest, rec.req.shape, waitBy - rest);
    const gapEnd = resumeAt + rest;
    if (gapEnd > waitBy) return true;
    // No full start ends before now + len: a gap run that ends by then needs no search either.
    return gapEnd > now + len && gapEnd > earliestStart(this.o.table, now, len, rec.req.shape, rec.req.vms) + len;
  }

  /** freeForGood of the table as it is (worked out again when a booking changed it). */
  private freeForGood(shape: LeaseRequest['shape']): readonly { from: number; vms: number }[] {
    const c = this.freeCache;
    if (c?.version === this.o.table.version && c.shape.cpus === shape.cpus && c.shape.memoryMiB === shape.memoryMiB) return c.free;
    const free = freeForGood(this.o.table, shape);
    this.freeCache = { version: this.o.table.version, shape, free };
    return free;
  }

  /** The host selection policy's choice among `cands` for a lease whose VMs would start at `at` (what it sees of each host then). */
  private select(cands: readonly HostCandidate[], req: LeaseRequest, at: number): Placement[] {
    const table = this.o.table;
    return this.o.policies.hostSelection.allocate(cands, req.vms, {
      leasesAt: (h) => table.bookingsAt(h, at),
      stableFor: (h) => table.nextChange(h, at) - at,
      durationS: req.duration,
    });
  }

  /** Where the lease's saved memory lives: its own (the controller derives it from its VMs' disks), else the rates' default. */
  private storage(rec: LeaseRecord): SuspendStorage {
    return rec.suspendTo ?? this.o.rates.suspendTo;
  }

  /** Whether a suspended lease may resume on hosts other than those it was suspended on: its state is readable there (shared storage), or the policy moves it. */
  private mayResumeElsewhere(rec: LeaseRecord): boolean {
    return this.storage(rec) === 'shared' || this.o.policies.migration === 'yes';
  }

  /** A suspended lease that can resume only on the hosts that hold its memory. */
  private pinned(rec: LeaseRecord): boolean {
    return rec.state === 'suspended' && !this.mayResumeElsewhere(rec);
  }

  private mayFillGaps(rec: LeaseRecord): boolean {
    return this.o.policies.suspension === 'all' && rec.req.kind === 'be' && rec.req.preemptible;
  }

  /** Whether what first stops `host` from holding `vms` more VMs after `now` is a reservation that preemptible usage does not explain (an AR). */
  private blockedByReservation(host: number, now: number, rec: LeaseRecord, vms: number): boolean {
    const b = this.o.table.busyFrom(host, now, rec.req.shape, vms);
    return b < Infinity && this.o.table.vmsFree(host, b, b, rec.req.shape, true) < vms;
  }


  /** A plan on exactly these hosts (a resume in place), in full or in the gap before an AR. */
  private startOn(rec: LeaseRecord, now: number, on: readonly HostCandidate[], preS: number, pre: Pre): LeasePlan | undefined {
    const table = this.o.table;
    const pl = on.map((c) => ({ host: c.host, vms: c.free }));
    const len = preS + rec.remainingS + this.o.rates.shutdownS;
    if (pl.every((p) => table.vmsFree(p.host, now, now + len, rec.req.shape) >= p.vms)) {
      return { placements: pl, segments: buildPlan(now, pre(pl, false), rec.remainingS, this.o.rates.shutdownS, 0) };
    }
    if (!this.mayFillGaps(rec)) return undefined;
    const minLen = preS + this.o.rates.minRunS + this.o.durations.suspend(rec.req, pl);
    if (!pl.every((p) => table.vmsFree(p.host, now, now + minLen, rec.req.shape) >= p.vms)) return undefined;
    return this.inGap(rec, now, pl, pre);
  }

  /** A partial run: from now until the first AR on its hosts, suspended just before it. */
  private inGap(rec: LeaseRecord, now: number, pl: Placement[], pre: Pre): LeasePlan | undefined {
    if (!pl.every((p) => this.blockedByReservation(p.host, now, rec, p.vms))) return undefined;
    const stop = Math.min(...pl.map((p) => this.o.table.busyFrom(p.host, now, rec.req.shape, p.vms)));
    const steps = pre(pl, false);
    const runFrom = now + sum(steps);
    const suspendS = this.o.durations.suspend(rec.req, pl);
    if (stop - suspendS - runFrom < this.o.rates.minRunS) return undefined;
    return { placements: pl, segments: buildPlan(now, steps, rec.remainingS, this.o.rates.shutdownS, suspendS, stop) };
  }

  /** The earliest full plan for a queued lease (its backfilling reservation), in place or — shared storage, or by policy moved — elsewhere, whichever ends first. */
  private reserve(rec: LeaseRecord, now: number): { placements: Placement[]; from: number; to: number } | undefined {
    const table = this.o.table;
    const { pre, resumeOn } = this.pre(rec);
    const tail = rec.remainingS + this.o.rates.shutdownS;
    let best: { placements: Placement[]; from: number; to: number } | undefined;
    if (resumeOn !== undefined) {
      const len = sum(pre(resumeOn, false)) + tail;
      const t = earliestStartOn(table, resumeOn, now, len, rec.req.shape);
      if (t < Infinity) best = { placements: resumeOn, from: t, to: t + len };
      if (!this.mayResumeElsewhere(rec)) return best;
    }
    const worst = [{ host: -1, vms: Math.min(rec.req.vms, this.perHostMax(rec.req.shape)) }];
    const len = sum(pre(worst, true)) + tail;
    const t = earliestStart(table, now, len, rec.req.shape, rec.req.vms);
    if (t === Infinity || (best !== undefined && best.to <= t + len)) return best;
    return { placements: this.select(candidatesOver(table, t, t + len, rec.req.shape), rec.req, t), from: t, to: t + len };
  }
}
