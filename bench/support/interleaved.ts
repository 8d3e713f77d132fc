/**
 * Runs `raw` and `nubo` `runs` times each, alternating which goes first in
 * each round, so a slow stretch of the shared machine lands on both sides of
 * the pairs rather than on one. Returns the pairs in order.
 */
export async function interleaved<T>(runs: number, raw: (round: number) => Promise<T>, nubo: (round: number) => Promise<T>): Promise<{ raw: T; nubo: T }[]> {
  const out: { raw: T; nubo: T }[] = [];
  for (let round = 0; round < runs; round++) {
    if (round % 2 === 0) {
      const r = await raw(round);
      out.push({ raw: r, nubo: await nubo(round) });
    } else {
      const n = await nubo(round);
      out.push({ raw: await raw(round), nubo: n });
    }
  }
  return out;
}
