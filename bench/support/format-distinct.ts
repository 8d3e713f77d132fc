/**
 * Formats numbers with the fewest decimals (at least `minDigits`, at most
 * `maxDigits`) that keep the ones that differ distinct: a verdict must never
 * read "322 vs 322" for a FAIL. Non-finite values print as "—".
 */
export function formatDistinct(values: readonly number[], minDigits = 0, maxDigits = 6): string[] {
  const finite = values.filter((v) => Number.isFinite(v));
  let digits = minDigits;
  for (; digits < maxDigits; digits++) {
    const seen = new Map<string, number>();
    let clash = false;
    for (const v of finite) {
      const s = v.toFixed(digits);
      const prev = seen.get(s);
      if (prev !== undefined && prev !== v) clash = true;
      seen.set(s, v);
    }
    if (!clash) break;
  }
  return values.map((v) => (Number.isFinite(v) ? v.toFixed(digits) : '—'));
}
