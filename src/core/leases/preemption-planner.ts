import { candidatesOver, totalFree } from './earliest-start.js';
import type { HostCandidate } from './host-selection-policy.js';
import { bookSpan, planEnd, planStart, type LeaseRecord } from './lease-record.js';
import type { LeaseScheduler } from './lease-scheduler.js';

/**
 * Frees [from, to) for the lease `rec` by cutting the plans of preemptible
 * leases, highest preemptability score first: a lease that has not begun is
 * withdrawn and requeued; a running one is suspended so that its suspension
 * (memory ÷ suspend rate) ends exactly at `from`. A lease whose suspension
 * would have to begin in the past, or before its VMs run, is left alone.
 * Returns the candidates over the window when enough VMs fit, having cut
 * what it needed; otherwise undoes every cut and returns undefined.
 */
export function planPreemption(s: LeaseScheduler, rec: LeaseRecord, from: number, to: number, now: number): HostCandidate[] | undefined {
  if (s.policies.suspension === 'none') return undefined;
  const policy = s.policies.preemptability;
  const scored = [...s.plannedLeases()]
    .filter((v) => v !== rec && planStart(v) < to && planEnd(v) > from)
    .map((v) => ({ v, score: policy.score(rec.req, v.req, { ranS: ranS(v, now) }) }));
  const victims = scored
    .filter((x): x is { v: LeaseRecord; score: number } => x.score !== null)
    .sort((a, b) => b.score - a.score || b.v.seq - a.v.seq)
    .map((x) => x.v);
  let cands = candidatesOver(s.table, from, to, rec.req.shape);
  const undos: (() => void)[] = [];
  for (const v of victims) {
    if (totalFree(cands) >= rec.req.vms) break;
    const before = totalFree(cands);
    const undo = cut(s, v, from, now);
    if (undo === undefined) continue;
    cands = candidatesOver(s.table, from, to, rec.req.shape);
    if (totalFree(cands) > before) {
      undos.push(undo);
    } else {
      undo();
      cands = candidatesOver(s.table, from, to, rec.req.shape);
    }
  }
  if (totalFree(cands) >= rec.req.vms) return cands;
  for (const u of undos.reverse()) u();
  return undefined;
}

/** Seconds `v`'s VMs have run by `now`: its earlier runs (what its remaining time lost) and the part of the current run before now. */
export function ranS(v: Readonly<LeaseRecord>, now: number): number {
  const r = v.segments.findIndex((x) => x.kind === 'run');
  const run = v.segments[r];
  const current = run !== undefined && r < v.cursor ? Math.max(0, Math.min(now, run.to) - run.from) : 0;
  return v.req.duration - v.remainingS + current;
}

/** Cuts `v`'s plan so it holds nothing from `at` on; returns how to undo it, or undefined when it cannot be cut. */
function cut(s: LeaseScheduler, v: LeaseRecord, at: number, now: number): (() => void) | undefined {
  const oldSegs = v.segments;
  const oldPl = v.placements;
  if (v.cursor === 0) {
    s.withdraw(v);
    return () => s.commit(v, oldPl, oldSegs);
  }
  const r = oldSegs.findIndex((x) => x.kind === 'run');
  const run = oldSegs[r];
  if (run === undefined) return undefined;
  const suspendAt = at - s.durations.suspend(v.req, oldPl);
  if (suspendAt < now || suspendAt < run.from || suspendAt >= run.to) return undefined;
  const oldEnd = planEnd(v);
  v.segments = [...oldSegs.slice(0, r), { kind: 'run', from: run.from, to: suspendAt }, { kind: 'suspend', from: suspendAt, to: at }];
  bookSpan(s.table, v, at, oldEnd, -1);
  s.replanned(v);
  return () => {
    v.segments = oldSegs;
    bookSpan(s.table, v, at, oldEnd, 1);
    s.replanned(v);
  };
}
