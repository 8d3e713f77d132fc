/** How far ahead of the rate a copy may run before it is held back: timers are coarse, and waiting out every millisecond would keep a fast copy below its cap. */
export const BURST_MS = 50;

/**
 * The schedule of a bandwidth cap: each `take` counts bytes about to move and
 * says how long to wait first so that the bytes so far fit the rate since the
 * first of them. Pure arithmetic on a clock: the streams that use it wait in
 * their own read or write, so a cap adds no stage to a copy, and a copy
 * without a cap has no pacer at all.
 */
export class Pacer {
  #started: number | undefined;
  #bytes = 0;

  /** @throws RangeError for a rate that is not a positive number */
  constructor(readonly bytesPerSecond: number, private readonly now: () => number = Date.now) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError(`bytesPerSecond must be a positive number (got ${bytesPerSecond})`);
  }

  /**
   * How many bytes to move at a time: about one burst's worth, so that a slow
   * cap shows steady progress instead of a long pause and then a whole chunk.
   */
  sliceBytes(max: number): number {
    return Math.max(4096, Math.min(max, Math.floor((this.bytesPerSecond * BURST_MS) / 1000)));
  }

  /**
   * Whether `bytes` fit in the burst the cap lets through at once: a copy no larger never waits on this pacer, so it
   * may go in one piece (a whole-file kernel copy) without passing the cap.
   */
  withinBurst(bytes: number): boolean {
    return bytes <= (this.bytesPerSecond * BURST_MS) / 1000;
  }

  /** Counts `n` bytes; returns the milliseconds to wait before they go (0: at once). */
  take(n: number): number {
    const now = this.now();
    this.#started ??= now;
    this.#bytes += n;
    const wait = this.#started + (this.#bytes / this.bytesPerSecond) * 1000 - now;
    return wait > BURST_MS ? Math.ceil(wait) : 0;
  }
}
