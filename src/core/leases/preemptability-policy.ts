import type { LeaseRequest } from './lease.js';

/**
 * Who may preempt whom: null when `preemptor` may not preempt `victim`,
 * else a score — the scheduler preempts the highest-scoring victims first.
 */
export interface PreemptabilityPolicy {
  readonly name: string;
  score(preemptor: LeaseRequest, victim: LeaseRequest): number | null;
}

const arOverBe = (p: LeaseRequest, v: LeaseRequest): boolean => p.kind === 'ar' && v.kind === 'be' && v.preemptible;

export const PREEMPTABILITY_POLICIES: Readonly<Record<string, PreemptabilityPolicy>> = {
  none: { name: 'none', score: () => null },
  // Haizea's default: an AR preempts best effort, the most recently submitted first (it has waited least).
  'ar-preempts-be': { name: 'ar-preempts-be', score: (p, v) => (arOverBe(p, v) ? v.submit : null) },
  // The cheapest suspension first: the least memory to save and restore.
  'ar-preempts-be-least-memory': { name: 'ar-preempts-be-least-memory', score: (p, v) => (arOverBe(p, v) ? -v.vms * v.shape.memoryMiB : null) },
};
