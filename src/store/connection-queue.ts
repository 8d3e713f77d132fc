/** A FIFO of waiters that takes from its head in O(1). */
class Fifo {
  #items: (() => void)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(f: () => void): void {
    this.#items.push(f);
  }

  shift(): (() => void) | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const f = this.#items[this.#head++];
    // Compacted once half of it is spent, so that the array does not grow for ever.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return f;
  }
}

/**
 * Turns for a single connection (SQLite's): one holder at a time, waiters
 * served first come, first served within their lane, the turn handed straight
 * to the next one. Two lanes: requests (foreground) and background work
 * (store-priority.ts); while both wait, `foregroundTurns` requests go for each
 * background turn, so neither starves.
 *
 * Replaces Kysely's mutex, which woke every waiter on each release to race for
 * the lock (n waiters: n wake-ups per query, quadratic under load), and kept
 * one line: an API request's every query waited behind all the queries of
 * the thousands of VMs being driven (POST /vms p99 47 s and time-outs at
 * 1,000 hosts on SQLite, 0 on PostgreSQL with its ten connections).
 */
export class ConnectionQueue {
  readonly #foreground = new Fifo();
  readonly #background = new Fifo();
  #held = false;
  /** Foreground turns given in a row while background work waited. */
  #run = 0;

  /** When the turn last went to a waiter through the event loop (`setImmediate`) rather than straight on. */
  #lastYield = performance.now();

  /**
   * @param yieldEveryMs How long turns may pass straight from one holder to
   * the next before one is handed over through the event loop. Each straight
   * hand-off is a promise's continuation, and SQLite's queries run
   * synchronously: a backlog of transactions ran as one chain of microtasks,
   * during which no socket was read — heartbeats among them (the 1,000-host
   * bench stalled the loop 2.4 s at a time and declared healthy hosts lost).
   */
  constructor(readonly foregroundTurns = 2, readonly yieldEveryMs = 20) {}

  /** Resolves when the caller holds the connection; it must call `release` once done. */
  acquire(background: boolean): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise<void>((ok) => (background ? this.#background : this.#foreground).push(ok));
  }

  release(): void {
    let next: (() => void) | undefined;
    if (this.#background.length > 0 && (this.#foreground.length === 0 || this.#run >= this.foregroundTurns)) {
      next = this.#background.shift();
      this.#run = 0;
    } else {
      next = this.#foreground.shift();
      if (next !== undefined && this.#background.length > 0) this.#run++;
    }
    if (next === undefined) {
      this.#held = false;
      return;
    }
    // Still held: the turn passes to `next` — now, or after the event loop has polled its sockets.
    const now = performance.now();
    if (now - this.#lastYield < this.yieldEveryMs) {
      next();
      return;
    }
    const handOver = next;
    setImmediate(() => {
      this.#lastYield = performance.now();
      handOver();
    });
  }

  /** Waiters in each lane (tests, diagnostics). */
  get waiting(): { readonly foreground: number; readonly background: number } {
    return { foreground: this.#foreground.length, background: this.#background.length };
  }
}
