import { clusterBootstrapCi } from './cluster-bootstrap-ci.js';

export interface Interval {
  /** The statistic of the samples themselves. */
  readonly point: number;
  readonly lo: number;
  readonly hi: number;
  /** How many finite samples it rests on. */
  readonly n: number;
}

export interface BootstrapOptions {
  /** Default 0.95. */
  readonly confidence?: number;
  /** Default 4000: enough that the interval's ends move by well under a percent between seeds. */
  readonly resamples?: number;
  /** Fixed by default, so that the same samples always give the same interval. */
  readonly seed?: number;
  /** Default: the median (robust to the odd run that a neighbour's build slowed down). */
  readonly statistic?: (xs: readonly number[]) => number;
}

/**
 * Percentile bootstrap confidence interval of a statistic of `xs` (non-finite
 * values are dropped). With one sample the interval is that sample; with none,
 * NaN throughout — a verdict on it is then INCONCLUSIVE.
 */
export function bootstrapCi(xs: readonly number[], o: BootstrapOptions = {}): Interval {
  // Groups of one: resampling them is resampling the samples (the same draws, in the same order, for one seed).
  return clusterBootstrapCi(xs.map((x) => [x]), o);
}
