import type { Interval } from './bootstrap-ci.js';

export type Verdict = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

export interface Target {
  /** The limit the statistic is held to. */
  readonly limit: number;
  /** `atMost`: lower is better (a pause, a ratio of times); `atLeast`: higher is better (a ratio of speeds). */
  readonly kind: 'atMost' | 'atLeast';
}

/**
 * PASS when the whole confidence interval is on the good side of the limit,
 * FAIL when the whole of it is on the bad side, and INCONCLUSIVE when it
 * straddles the limit (or there is no data): on a shared machine a median
 * that lands just past a limit says nothing until the interval does.
 */
export function verdict(ci: Interval, t: Target): Verdict {
  if (!(Number.isFinite(ci.lo) && Number.isFinite(ci.hi))) return 'INCONCLUSIVE';
  if (t.kind === 'atMost') {
    if (ci.hi <= t.limit) return 'PASS';
    if (ci.lo > t.limit) return 'FAIL';
  } else {
    if (ci.lo >= t.limit) return 'PASS';
    if (ci.hi < t.limit) return 'FAIL';
  }
  return 'INCONCLUSIVE';
}
