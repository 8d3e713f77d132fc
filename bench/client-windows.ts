/**
 * What the fabric client saw around one migration, from the completion times
 * of its answers (absolute ms): requests per second in a window, and the
 * longest silence that overlaps the migration — the downtime as a client
 * measures it (it includes one normal request time, as any gap does).
 */

/** Answers per second completed in [from, to). */
export function throughput(answersAt: readonly number[], from: number, to: number): number {
  if (!(to > from)) return NaN;
  const n = answersAt.filter((t) => t >= from && t < to).length;
  return (n * 1000) / (to - from);
}

export interface Gap {
  readonly ms: number;
  /** The answer before the silence and the one that ended it (absolute ms). */
  readonly lastBefore: number;
  readonly firstAfter: number;
}

/** Longest interval between two consecutive answers that overlaps [from, to]. */
export function longestGap(answersAt: readonly number[], from: number, to: number): Gap {
  let best: Gap = { ms: NaN, lastBefore: NaN, firstAfter: NaN };
  for (let i = 1; i < answersAt.length; i++) {
    const a = answersAt[i - 1]!;
    const b = answersAt[i]!;
    if (b >= from && a <= to && !(b - a <= best.ms)) best = { ms: b - a, lastBefore: a, firstAfter: b };
  }
  return best;
}
