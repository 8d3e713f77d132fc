/**
 * Exact decimal arithmetic on bigints: amounts are integers of a fixed
 * scale (10^decimals units of one), rounded once, half up, from an exact
 * fraction. All amounts here are non-negative.
 */

/** num/den rounded half up (x.5 → x+1); num ≥ 0, den > 0. */
export function roundHalfUp(num: bigint, den: bigint): bigint {
  return (2n * num + den) / (2n * den);
}

/** 1234n at 2 decimals → "12.34"; 5n at 3 → "0.005". */
export function formatFixed(value: bigint, decimals: number): string {
  const digits = value.toString().padStart(decimals + 1, '0');
  return decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/**
 * "0.0125" at scale 9 → 12500000n; undefined when the text is not a plain
 * non-negative decimal or has more than `decimals` places (nothing is rounded
 * away from a configured price).
 */
export function parseFixed(text: string, decimals: number): bigint | undefined {
  const m = /^(\d{1,12})(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const frac = m[2] ?? '';
  if (frac.length > decimals) return undefined;
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
}
