import { candidatesOver, totalFree } from './earliest-start.js';
import type { HostCandidate } from './host-selection-policy.js';
import { bookSpan, planEnd, planStart, type LeaseRecord } from './lease-record.js';
import type { LeaseScheduler } from './lease-scheduler.js';

/** A cut plan: how to put it back, and what to tell the enactment once the preemption stands. */
interface Cut {
  readonly undo: () => void;
  readonly commit?: () => void;
}

/**
 * Frees [from, to) for the lease `rec` by cutting the plans of preemptible
 * leases, highest preemptability score first: a lease that has not begun is
 * withdrawn and requeued; a running one is suspended so that its suspension
 * (memory ÷ suspend rate) ends exactly at `from`. One that cannot be
 * suspended — suspension `none`, or its suspension would have to begin in the
 * past or before its VMs run (Haizea's scheduling threshold) — while it is
 * preparing or running is requeued to start over or cancelled, by the
 * unsuspendable policy (Haizea's must_cancel_and_requeue); one already
 * suspending, shutting down, moving or resuming is left alone. Returns the
 * candidates over the window when enough VMs fit, having cut what it needed;
 * otherwise undoes every cut and returns undefined.
 */
export function planPreemption(s: LeaseScheduler, rec: LeaseRecord, from: number, to: number, now: number): HostCandidate[] | undefined {
  const policy = s.policies.preemptability;
  const scored = [...s.plannedLeases()]
    .filter((v) => v !== rec && planStart(v) < to && planEnd(v) > from)
    .map((v) => ({ v, score: policy.score(rec.req, v.req, { ranS: ranS(v, now) }) }));
  const victims = scored
    .filter((x): x is { v: LeaseRecord; score: number } => x.score !== null)
    .sort((a, b) => b.score - a.score || b.v.seq - a.v.seq)
    .map((x) => x.v);
  let cands = candidatesOver(s.table, from, to, rec.req.shape);
  const cuts: Cut[] = [];
  for (const v of victims) {
    if (totalFree(cands) >= rec.req.vms) break;
    const before = totalFree(cands);
    const c = cut(s, v, rec, from, now);
    if (c === undefined) continue;
    cands = candidatesOver(s.table, from, to, rec.req.shape);
    if (totalFree(cands) > before) {
      cuts.push(c);
    } else {
      c.undo();
      cands = candidatesOver(s.table, from, to, rec.req.shape);
    }
  }
  if (totalFree(cands) >= rec.req.vms) {
    for (const c of cuts) c.commit?.();
    return cands;
  }
  for (const c of cuts.reverse()) c.undo();
  return undefined;
}

/** Seconds `v`'s VMs have run by `now`: its earlier runs (what its remaining time lost) and the part of the current run before now. */
export function ranS(v: Readonly<LeaseRecord>, now: number): number {
  const r = v.segments.findIndex((x) => x.kind === 'run');
  const run = v.segments[r];
  const current = run !== undefined && r < v.cursor ? Math.max(0, Math.min(now, run.to) - run.from) : 0;
  return v.req.duration - v.remainingS + current;
}

/** Cuts `v`'s plan so it holds nothing from `at` on (for `by`); undefined when it cannot be cut. */
function cut(s: LeaseScheduler, v: LeaseRecord, by: LeaseRecord, at: number, now: number): Cut | undefined {
  const oldSegs = v.segments;
  const oldPl = v.placements;
  if (v.cursor === 0) {
    s.withdraw(v);
    return { undo: () => s.commit(v, oldPl, oldSegs) };
  }
  const r = oldSegs.findIndex((x) => x.kind === 'run');
  const run = oldSegs[r];
  if (run === undefined) return undefined;
  const current = oldSegs[v.cursor - 1]!.kind;
  if (s.policies.suspension !== 'none') {
    const suspendS = s.durations.suspend(v.req, oldPl);
    const suspendAt = at - suspendS;
    if (suspendAt >= now && suspendAt >= run.from && suspendAt < run.to) {
      const oldEnd = planEnd(v);
      v.segments = [...oldSegs.slice(0, r), { kind: 'run', from: run.from, to: suspendAt }, { kind: 'suspend', from: suspendAt, to: at }];
      bookSpan(s.table, v, at, oldEnd, -1);
      s.replanned(v);
      return {
        undo: () => {
          v.segments = oldSegs;
          bookSpan(s.table, v, at, oldEnd, 1);
          s.replanned(v);
        },
      };
    }
    // Its run ends before the suspension would begin (only its shutdown is in the way), or it is past preparing and running: left alone.
    if (suspendAt >= run.to || (current !== 'prepare' && current !== 'run')) return undefined;
    const when = suspendAt < now ? `before now (${(now - suspendAt).toFixed(1)} s ago)` : 'before its VMs run';
    return s.evict(v, now, `${verb(s)} at ${now}: advance reservation ${by.req.id} needs its hosts from ${at}, and its suspension (${suspendS.toFixed(1)} s) would have to begin ${when}`);
  }
  if (run.to <= at || (current !== 'prepare' && current !== 'run')) return undefined;
  return s.evict(v, now, `${verb(s)} at ${now}: advance reservation ${by.req.id} needs its hosts from ${at}, and suspension is off (policy suspension none)`);
}

const verb = (s: LeaseScheduler): string => (s.policies.unsuspendable === 'requeue' ? 'requeued to start over' : 'cancelled');
