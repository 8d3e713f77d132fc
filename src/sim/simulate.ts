import type { Enactment, Placement, SegmentKind } from '../core/leases/enactment.js';
import { LeaseScheduler } from '../core/leases/lease-scheduler.js';
import { TimerHeap } from '../core/leases/timer-heap.js';
import type { QuotaLimits } from '../core/quota/quota.js';
import type { SimConfig } from './sim-config.js';
import { simMetrics, type SimMetrics } from './sim-metrics.js';
import type { TraceLease, Workload } from './trace-lease.js';

/** One step of one lease as the virtual clock saw it begin. */
export interface SimEvent {
  readonly t: number;
  readonly lease: string;
  readonly step: SegmentKind | 'done' | 'rejected' | 'requeue' | 'cancel';
  /** The step's predicted end (absent for done and rejected). */
  readonly until?: number;
  readonly placements?: readonly Placement[];
}

export interface SimResult {
  readonly metrics: SimMetrics;
  /** Every step, in the order they began (only when asked for: a 30-day trace makes many). */
  readonly events: readonly SimEvent[];
  readonly rejections: readonly { readonly lease: string; readonly reason: string }[];
}

/**
 * Runs the lease scheduler over a workload on a virtual clock. Enactment
 * completes every step at the time the scheduler predicted; a lease whose
 * real duration is shorter than the reserved one ends early, as the
 * controller would report it. Runs until nothing is left to happen.
 */
export function simulate(workload: Workload, config: SimConfig, opts: { readonly record?: boolean } = {}): SimResult {
  const hosts = config.hosts ?? workload.hosts;
  if (hosts === undefined || hosts.length === 0) throw new RangeError('the simulation has no hosts: give hosts in the config or a trace with a site (LWF)');
  const events: SimEvent[] = [];
  const rejections: { lease: string; reason: string }[] = [];
  const realLeft = new Map<string, number>();
  const realDuration = new Map<string, number>();
  const runAt = new Map<string, number>();
  const earlyEnds = new TimerHeap<{ t: number; id: string; token: number }>();
  let busyCpuS = 0;
  const log = (t: number, lease: string, step: SimEvent['step'], until?: number, placements?: readonly Placement[]): void => {
    if (opts.record) events.push({ t, lease, step, ...(until !== undefined ? { until } : {}), ...(placements !== undefined ? { placements } : {}) });
  };
  // What the lease's VMs ran since their run began (none when they were not running: preparing, or already stopped).
  const ranUntil = (lease: TraceLease, vms: number, at: number): void => {
    const ran = at - (runAt.get(lease.id) ?? at);
    runAt.delete(lease.id);
    realLeft.set(lease.id, (realLeft.get(lease.id) ?? 0) - ran);
    busyCpuS += ran * vms * lease.shape.cpus;
  };
  const enactment: Enactment = {
    prepare: (l, pl, at, until) => log(at, l.id, 'prepare', until, pl),
    migrate: (l, _from, to, at, until) => log(at, l.id, 'migrate', until, to),
    resume: (l, pl, at, until) => log(at, l.id, 'resume', until, pl),
    run: (l, pl, at, until) => {
      log(at, l.id, 'run', until, pl);
      runAt.set(l.id, at);
      const left = realLeft.get(l.id) ?? 0;
      if (at + left < until) earlyEnds.push({ t: at + left, id: l.id, token: at });
    },
    suspend: (l, pl, at, until) => {
      log(at, l.id, 'suspend', until, pl);
      ranUntil(l, l.vms, at);
    },
    shutdown: (l, pl, at, until) => {
      log(at, l.id, 'shutdown', until, pl);
      ranUntil(l, l.vms, at);
    },
    // Ended for an AR without a suspension: what it ran is lost (counted as used, not as done); requeued, it owes its whole real duration again.
    requeue: (l, pl, at) => {
      log(at, l.id, 'requeue', undefined, pl);
      ranUntil(l, l.vms, at);
      realLeft.set(l.id, realDuration.get(l.id) ?? l.duration);
    },
    cancel: (l, pl, at) => {
      log(at, l.id, 'cancel', undefined, pl);
      ranUntil(l, l.vms, at);
    },
    done: (l, at) => log(at, l.id, 'done'),
  };
  const quotas = config.quotas;
  const limitsOf = (owner: string): QuotaLimits | undefined => (quotas === undefined ? undefined : Object.hasOwn(quotas, owner) ? quotas[owner] : quotas['*']);
  const s = new LeaseScheduler({
    hosts, rates: config.rates, policies: config.policies, enactment,
    ...(quotas !== undefined ? { quotas: (owner: string) => { const limits = limitsOf(owner); return limits === undefined ? [] : [{ name: owner, limits, owners: [owner] }]; } } : {}),
  });
  const arrivals = [...workload.leases].sort((a, b) => a.submit - b.submit);
  let next = 0;
  for (;;) {
    const t = Math.min(arrivals[next]?.submit ?? Infinity, s.nextEventTime(), earlyEnds.peek()?.t ?? Infinity);
    if (t === Infinity) break;
    s.advance(t);
    while ((earlyEnds.peek()?.t ?? Infinity) <= t) {
      const e = earlyEnds.pop()!;
      const rec = s.lease(e.id);
      if (rec?.segments[rec.cursor - 1]?.from === e.token) s.ended(e.id, e.t);
      s.advance(t);
    }
    while (next < arrivals.length && arrivals[next]!.submit <= t) {
      const lease = arrivals[next++]!;
      realLeft.set(lease.id, lease.realDuration ?? lease.duration);
      realDuration.set(lease.id, lease.realDuration ?? lease.duration);
      const verdict = s.submit(lease, t);
      if (!verdict.accepted) {
        rejections.push({ lease: lease.id, reason: verdict.reason });
        log(t, lease.id, 'rejected');
      }
    }
    s.schedule(t);
    s.advance(t);
  }
  return { metrics: simMetrics(s.records(), workload.leases, hosts, busyCpuS, s.queueLength), events, rejections };
}
