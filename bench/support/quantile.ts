/**
 * The `q`-quantile (0…1) of the finite values of `xs`, interpolated linearly
 * between order statistics (type 7, as R and NumPy default to). NaN for no
 * values: a bench that measured nothing must not print a number.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be within 0…1 (got ${q})`);
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** The median of the finite values of `xs`. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}
