import { quantile, median } from './quantile.js';
import { seededRandom } from './seeded-random.js';

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
  const stat = o.statistic ?? median;
  const data = xs.filter((x) => Number.isFinite(x));
  const n = data.length;
  if (n === 0) return { point: NaN, lo: NaN, hi: NaN, n };
  const confidence = o.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be within (0, 1) (got ${confidence})`);
  const resamples = o.resamples ?? 4000;
  const rand = seededRandom(o.seed ?? 0x5eed);
  const stats: number[] = new Array<number>(resamples);
  const draw: number[] = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) draw[i] = data[Math.floor(rand() * n)]!;
    stats[r] = stat(draw);
  }
  const tail = (1 - confidence) / 2;
  return { point: stat(data), lo: quantile(stats, tail), hi: quantile(stats, 1 - tail), n };
}
