import type { LeaseRecord } from '../core/leases/lease-record.js';
import type { HostCapacity } from '../core/leases/slot-table.js';
import type { TraceLease } from './trace-lease.js';

/** What a simulation reports (seconds unless named otherwise). */
export interface SimMetrics {
  /** From the trace start to the end of the last best-effort lease (the paper's all-best-effort); null without best-effort leases. */
  readonly allBestEffortS: number | null;
  /** Mean of (first start − submit) over best-effort leases. */
  readonly meanWaitS: number | null;
  /** Mean of max(1, (end − submit) ÷ max(real run time, 10 s)) over best-effort leases. */
  readonly meanBoundedSlowdown: number | null;
  /** CPU-seconds the VMs really ran ÷ (all CPUs × time until the last lease ended). */
  readonly utilization: number;
  /** Suspensions (an AR's preemption, or a gap run reaching the AR it filled in before). */
  readonly preemptions: number;
  /** Resumes on other hosts after moving the saved state. */
  readonly migrations: number;
  /** Resumes on other hosts with no move: the state read from shared storage there (rates suspendTo shared). */
  readonly handoffs: number;
  /** Runs ended for an AR because the lease could not be suspended, the lease starting over (policy unsuspendable requeue). */
  readonly requeues: number;
  /** Leases cancelled for an AR because they could not be suspended (policy unsuspendable cancel); not in the best-effort figures. */
  readonly cancelled: number;
  readonly leases: number;
  readonly bestEffort: number;
  readonly arsAccepted: number;
  readonly arsRejected: number;
  /** Leases still queued when nothing else could happen (should be 0). */
  readonly unfinished: number;
  readonly simulatedS: number;
}

export function simMetrics(records: Iterable<Readonly<LeaseRecord>>, leases: readonly TraceLease[], hosts: readonly HostCapacity[], busyCpuS: number, queued: number): SimMetrics {
  const real = new Map(leases.map((l) => [l.id, l.realDuration ?? l.duration]));
  let be = 0;
  let waitSum = 0;
  let sdSum = 0;
  let allBe = -Infinity;
  let last = 0;
  let preemptions = 0;
  let migrations = 0;
  let handoffs = 0;
  let requeues = 0;
  let cancelled = 0;
  let arsAccepted = 0;
  let arsRejected = 0;
  let n = 0;
  for (const r of records) {
    n++;
    preemptions += r.suspensions;
    migrations += r.migrations;
    handoffs += r.handoffs;
    requeues += r.requeues;
    if (r.state === 'cancelled') cancelled++;
    if (r.req.kind === 'ar') {
      if (r.state === 'rejected') arsRejected++;
      else arsAccepted++;
    }
    if (r.end !== undefined) last = Math.max(last, r.end);
    if (r.req.kind !== 'be' || r.end === undefined || r.state !== 'done') continue;
    be++;
    allBe = Math.max(allBe, r.end);
    waitSum += (r.firstStart ?? r.end) - r.req.submit;
    sdSum += Math.max(1, (r.end - r.req.submit) / Math.max(real.get(r.req.id) ?? r.req.duration, 10));
  }
  const cpus = hosts.reduce((s, h) => s + h.cpus, 0);
  return {
    allBestEffortS: be > 0 ? allBe : null,
    meanWaitS: be > 0 ? waitSum / be : null,
    meanBoundedSlowdown: be > 0 ? sdSum / be : null,
    utilization: last > 0 ? busyCpuS / (cpus * last) : 0,
    preemptions,
    migrations,
    handoffs,
    requeues,
    cancelled,
    leases: n,
    bestEffort: be,
    arsAccepted,
    arsRejected,
    unfinished: queued,
    simulatedS: last,
  };
}
