/**
 * Runs a round now and then every `intervalMs`, for the background loops
 * that sample or collect (the agent's metrics sampler, the controller's
 * collector). A round that falls due while the last still runs is skipped,
 * not queued, so rounds never pile up behind a slow host or VM; a failed
 * round is reported and the next one runs as usual. The timer does not keep
 * the process alive; stop() waits for the round in flight.
 */
export class PeriodicRounds {
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(
    private readonly round: () => Promise<void>,
    readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.#timer !== undefined) return;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  #tick(): void {
    if (this.#round !== undefined) return;
    this.#round = this.round()
      .catch((err: unknown) => this.onError(err))
      .finally(() => (this.#round = undefined));
  }
}
