import { bootstrapCi, type Interval, type BootstrapOptions } from './bootstrap-ci.js';
import { formatDistinct } from './format-distinct.js';
import { median } from './quantile.js';
import { verdict, type Target, type Verdict } from './verdict.js';

/** One raw run and the nubo run measured next to it (interleaved, so both saw the same neighbours). */
export interface Pair {
  readonly raw: number;
  readonly nubo: number;
}

export interface PairedComparison {
  readonly name: string;
  /** `ratio`: nubo / raw per pair; `difference`: nubo − raw per pair. */
  readonly mode: 'ratio' | 'difference';
  readonly unit: string;
  readonly pairs: readonly Pair[];
  /** The per-pair ratios or differences the interval is over. */
  readonly perPair: readonly number[];
  readonly rawMedian: number;
  readonly nuboMedian: number;
  /** Of the per-pair values: the statistic is their median. */
  readonly ci: Interval;
  readonly target: Target;
  readonly verdict: Verdict;
}

/**
 * Compares nubo with raw the way a noisy shared machine allows: each pair's
 * own ratio (or difference) cancels the load both runs of the pair shared,
 * the median of those resists the odd disturbed pair, and the bootstrap
 * interval says whether the run count was enough to tell.
 */
export function comparePairs(name: string, pairs: readonly Pair[], mode: 'ratio' | 'difference', target: Target, unit = '', o: BootstrapOptions = {}): PairedComparison {
  const ok = pairs.filter((p) => Number.isFinite(p.raw) && Number.isFinite(p.nubo) && (mode === 'difference' || p.raw > 0));
  const perPair = ok.map((p) => (mode === 'ratio' ? p.nubo / p.raw : p.nubo - p.raw));
  const ci = bootstrapCi(perPair, o);
  return {
    name, mode, unit, pairs: ok, perPair,
    rawMedian: median(ok.map((p) => p.raw)),
    nuboMedian: median(ok.map((p) => p.nubo)),
    ci, target, verdict: verdict(ci, target),
  };
}

/** One line: the verdict, the target, the medians, the per-pair statistic with its interval; digits enough to tell them apart. */
export function describeComparison(c: PairedComparison): string {
  const [raw, nubo] = formatDistinct([c.rawMedian, c.nuboMedian], 0);
  const [point, lo, hi, limit] = formatDistinct([c.ci.point, c.ci.lo, c.ci.hi, c.target.limit], c.mode === 'ratio' ? 2 : 0);
  const op = c.target.kind === 'atMost' ? '≤' : '≥';
  const what = c.mode === 'ratio' ? 'nubo/raw' : 'nubo − raw';
  const u = c.mode === 'ratio' ? '×' : ` ${c.unit}`;
  return `${c.verdict} ${c.name}: ${what} ${op} ${limit}${u} — median per pair ${point}${u} (95% CI ${lo}…${hi}, ${c.ci.n} pairs); medians nubo ${nubo} vs raw ${raw}${c.unit === '' ? '' : ` ${c.unit}`}`;
}
