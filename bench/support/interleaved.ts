/**
 * Runs `raw` and `nubo` `runs` times each, alternating which goes first in
 * each round, so a slow stretch of the shared machine lands on both sides of
 * the pairs rather than on one. Returns the pairs in order.
 */
export async function interleaved<R, N>(runs: number, raw: (round: number) => Promise<R>, nubo: (round: number) => Promise<N>): Promise<{ raw: R; nubo: N }[]> {
  const out: { raw: R; nubo: N }[] = [];
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
