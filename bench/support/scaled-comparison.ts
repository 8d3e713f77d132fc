import { comparePairs, type Pair, type PairedComparison } from './paired-comparison.js';
import { formatDistinct } from './format-distinct.js';
import { median } from './quantile.js';

/** A target of the shape nubo ≤ factor × raw + plus (the "1.5 × raw + 20 ms"). */
export interface ScaledTarget {
  readonly factor: number;
  readonly plus: number;
}

/**
 * A paired comparison against a ratio-plus-constant limit, which neither a
 * ratio nor a difference expresses alone: per pair, nubo's excess over its own
 * pair's limit, nubo − (factor × raw + plus), held to ≤ 0 with the usual
 * median and bootstrap interval. The medians are of the measured values.
 */
export function compareScaled(name: string, pairs: readonly Pair[], t: ScaledTarget, unit: string): PairedComparison {
  const c = comparePairs(name, pairs.map((p) => ({ raw: t.factor * p.raw + t.plus, nubo: p.nubo })), 'difference', { limit: 0, kind: 'atMost' }, unit);
  return { ...c, pairs: c.pairs.map((p) => ({ raw: (p.raw - t.plus) / t.factor, nubo: p.nubo })), rawMedian: median(c.pairs.map((p) => (p.raw - t.plus) / t.factor)) };
}

/** One line like describeComparison's, with the target's shape and the two paths' names. */
export function describeScaled(c: PairedComparison, t: ScaledTarget, path: string, base: string): string {
  const [raw, nubo] = formatDistinct([c.rawMedian, c.nuboMedian], 0);
  const [point, lo, hi] = formatDistinct([c.ci.point, c.ci.lo, c.ci.hi], 0);
  const u = c.unit === '' ? '' : ` ${c.unit}`;
  return `${c.verdict} ${c.name}: ${path} ≤ ${t.factor} × ${base} + ${t.plus}${u} per pair — median per pair of ${path} − (${t.factor} × ${base} + ${t.plus}${u}) ${point}${u} (95% CI ${lo}…${hi}, ${c.ci.n} pairs; ≤ 0 passes); p50s ${path} ${nubo} vs ${base} ${raw}${u}`;
}
