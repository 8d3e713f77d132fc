/** A host the beater beats for. */
export interface BeatingHost {
  readonly name: string;
  readonly silent: boolean;
}

export interface FleetBeaterOptions<H extends BeatingHost> {
  readonly hosts: readonly H[];
  readonly intervalMs: number;
  /** One heartbeat of the host; true when the controller took it. Must not throw. */
  readonly beat: (host: H) => Promise<boolean>;
  /** How often the one timer fires (default: 20 times an interval, at most every 10 ms). */
  readonly tickMs?: number | undefined;
}

/**
 * The heartbeats of a whole fake fleet from one timer: each host has its slot
 * in the interval (host i beats at tick i mod ticks-per-interval), so a
 * thousand hosts beat as steadily as a thousand agents with timers of their
 * own would, without a thousand timers. A host beats on its turn even while
 * its last beat waits for the controller's answer, as a real agent does
 * (agent-daemon.ts: a plain interval; each beat has its own time-out). It used
 * to skip the turn: a controller slow to answer (10 s, the beat's time-out)
 * then heard such a host every 15 s at best — its silence limit — and
 * declared healthy hosts lost in the 300-host bench.
 */
export class FleetBeater<H extends BeatingHost> {
  readonly #o: FleetBeaterOptions<H>;
  /** By host, its latest beat under way (beatAll waits for it); every beat under way is in `#all`. */
  readonly #inFlight = new Map<H, Promise<void>>();
  readonly #all = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #tick = 0;
  #sent = 0;
  #taken = 0;

  constructor(o: FleetBeaterOptions<H>) {
    this.#o = o;
  }

  get counts(): { readonly sent: number; readonly taken: number } {
    return { sent: this.#sent, taken: this.#taken };
  }

  get #tickMs(): number {
    return this.#o.tickMs ?? Math.max(10, Math.floor(this.#o.intervalMs / 20));
  }

  /** The hosts whose turn tick `t` is. */
  dueAt(t: number): H[] {
    const slots = Math.max(1, Math.round(this.#o.intervalMs / this.#tickMs));
    const slot = t % slots;
    return this.#o.hosts.filter((_, i) => i % slots === slot);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      for (const h of this.dueAt(this.#tick)) this.#send(h);
      this.#tick++;
    }, this.#tickMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops the timer and waits for the beats under way. */
  async stopAndSettle(): Promise<void> {
    this.stop();
    await Promise.allSettled([...this.#all]);
  }

  /** Every host that is not silent beats once now, at most `concurrency` at a time; answers how many were taken. */
  async beatAll(concurrency: number, signal?: AbortSignal): Promise<number> {
    const queue = this.#o.hosts.filter((h) => !h.silent);
    let taken = 0;
    const worker = async (): Promise<void> => {
      for (let h = queue.shift(); h !== undefined; h = queue.shift()) {
        signal?.throwIfAborted();
        await this.#inFlight.get(h);
        this.#sent++;
        if (await this.#o.beat(h)) {
          this.#taken++;
          taken++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return taken;
  }

  #send(h: H): void {
    if (h.silent) return;
    this.#sent++;
    const p: Promise<void> = this.#o.beat(h)
      .then((ok) => {
        if (ok) this.#taken++;
      }, () => undefined)
      .finally(() => {
        this.#all.delete(p);
        if (this.#inFlight.get(h) === p) this.#inFlight.delete(h);
      });
    this.#all.add(p);
    this.#inFlight.set(h, p);
  }
}
