import type { LeaseRequest } from './lease.js';

/** What a preemptability policy knows about a victim besides its request: how long its VMs have run so far. */
export interface VictimFacts {
  /** Seconds the victim's VMs have run (all its runs, the current one up to now). */
  readonly ranS: number;
}

/**
 * Who may preempt whom: null when `preemptor` may not preempt `victim`,
 * else a score — the scheduler preempts the highest-scoring victims first
 * (Haizea's PreemptabilityPolicy.get_lease_preemptability_score).
 */
export interface PreemptabilityPolicy {
  readonly name: string;
  score(preemptor: LeaseRequest, victim: LeaseRequest, facts: VictimFacts): number | null;
}

const arOverBe = (p: LeaseRequest, v: LeaseRequest): boolean => p.kind === 'ar' && v.kind === 'be' && v.preemptible;

/** The default age limit (seconds of running) of the age policies when the configuration names none. */
export const DEFAULT_PREEMPTION_AGE_LIMIT_S = 3600;

/** The policies that take an age limit, built for one limit. */
export const AGE_LIMIT_POLICIES: Readonly<Record<string, (limitS: number) => PreemptabilityPolicy>> = {
  // Work that has run long is not thrown into a suspension: a BE lease that has run `limitS` or more is not preempted; the rest youngest first.
  'ar-preempts-be-age-limit': (limitS) => ({ name: 'ar-preempts-be-age-limit', score: (p, v, f) => (arOverBe(p, v) && f.ranS < limitS ? v.submit : null) }),
  // The other way round: past the limit a BE lease is preferred as a victim (it has had its share), the longest-run first; under it, youngest first after them.
  'ar-preempts-be-oldest-first': (limitS) => ({
    name: 'ar-preempts-be-oldest-first',
    score: (p, v, f) => (arOverBe(p, v) ? (f.ranS >= limitS ? 1e12 + f.ranS : v.submit) : null),
  }),
};

export const PREEMPTABILITY_POLICIES: Readonly<Record<string, PreemptabilityPolicy>> = {
  none: { name: 'none', score: () => null },
  // Haizea's default: an AR preempts best effort, the most recently submitted first (it has waited least).
  'ar-preempts-be': { name: 'ar-preempts-be', score: (p, v) => (arOverBe(p, v) ? v.submit : null) },
  // The cheapest suspension first: the least memory to save and restore.
  'ar-preempts-be-least-memory': { name: 'ar-preempts-be-least-memory', score: (p, v) => (arOverBe(p, v) ? -v.vms * v.shape.memoryMiB : null) },
  ...Object.fromEntries(Object.entries(AGE_LIMIT_POLICIES).map(([k, make]) => [k, make(DEFAULT_PREEMPTION_AGE_LIMIT_S)])),
};
