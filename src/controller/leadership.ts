import type { Logger } from 'pino';
import type { LeadershipRepository, LeaseHolder } from '../store/repositories/leadership-repository.js';
import { NotLeaderError } from '../errors/not-leader-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import { sleep } from '../util/deadline.js';

export interface LeadershipOptions {
  readonly repo: LeadershipRepository;
  /** This process's identity: a fresh one per start, so that a restarted controller never inherits its predecessor's term. */
  readonly id: string;
  /** The URL followers forward writes to and agents are pointed at (known once the server listens). */
  readonly url: () => string;
  readonly leaseMs: number;
  readonly logger: Logger;
  /** Called once when a held lease is lost (not renewed in time, or taken over). */
  readonly onLost: (reason: string) => void;
  /** Monotonic milliseconds; keeps running while the process is stopped (SIGSTOP), which is what fences a woken leader. */
  readonly monotonicMs?: (() => number) | undefined;
}

/**
 * This controller's side of the leadership lease. A follower campaigns every
 * lease/4; the leader renews every lease/3. The leader's own deadline is
 * measured from when it *sent* a successful renewal, on the monotonic clock:
 * PostgreSQL computed the expiry later than that, so the local deadline
 * always falls before the lease ends on PostgreSQL's clock, and no one else
 * can hold the lease while `check()` passes here (less a margin for clock
 * rate). A process that was stopped (SIGSTOP) and wakes finds its deadline
 * passed before it does anything: `check()` throws, and its writes are
 * refused by the store's fence trigger anyway.
 */
export class Leadership {
  #held: LeaseHolder | undefined;
  #deadline = 0;
  #lost = false;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  readonly #now: () => number;
  readonly #margin: number;

  constructor(private readonly o: LeadershipOptions) {
    this.#now = o.monotonicMs ?? (() => performance.now());
    this.#margin = Math.max(50, Math.round(o.leaseMs / 10));
  }

  get term(): number | undefined {
    return this.#held?.term;
  }

  /** True while the lease is held and its local deadline has not passed. */
  isLeader(): boolean {
    return this.#held !== undefined && !this.#lost && this.#now() < this.#deadline;
  }

  /** Throws NotLeaderError unless the lease is held right now: called before every side effect on an agent. */
  check(): void {
    if (this.isLeader()) return;
    if (this.#held !== undefined) this.#lose('the lease deadline passed before it was renewed');
    throw new NotLeaderError(this.#held === undefined ? 'it never held the lease' : 'its lease lapsed');
  }

  /** The leader as the lease row says (for forwarding); undefined when none holds a live lease. */
  async leader(): Promise<LeaseHolder | undefined> {
    if (this.isLeader() && this.#held) return this.#held;
    const row = await this.o.repo.current();
    return row?.live === true ? row : undefined;
  }

  /** One attempt to take the lease; true when this controller now leads (and renews it from now on). */
  async tryAcquire(): Promise<boolean> {
    if (this.#lost) return false;
    const sent = this.#now();
    const got = await this.o.repo.acquireOrRenew(this.o.id, this.o.url(), this.o.leaseMs);
    if (got === undefined) return false;
    this.#held = got;
    this.#deadline = sent + this.o.leaseMs - this.#margin;
    this.#timer = setInterval(() => void this.#renew(), Math.max(20, Math.floor(this.o.leaseMs / 3)));
    this.o.logger.info({ term: got.term, id: this.o.id }, 'controller is the leader');
    return true;
  }

  /** Campaigns until the lease is taken (true) or `signal` aborts (false). */
  async campaign(signal: AbortSignal): Promise<boolean> {
    const every = Math.max(20, Math.floor(this.o.leaseMs / 4));
    while (!signal.aborted) {
      try {
        if (await this.tryAcquire()) return true;
      } catch (err) {
        this.o.logger.warn({ err: errorMessage(err) }, 'leadership campaign: the store did not answer');
      }
      await sleep(every, signal).catch(() => {});
    }
    return false;
  }

  /** Stops renewing and, when still held, ends the lease now so that a follower takes over at once. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    const held = this.isLeader();
    this.#lost = true;
    if (held) await this.o.repo.release(this.o.id).catch(() => {});
    await this.o.repo.close().catch(() => {});
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#lost) return;
    this.#renewing = true;
    try {
      // Checked first: a process woken from a stop must not extend a lease that someone else may hold by now.
      if (this.#now() >= this.#deadline) return this.#lose('the lease deadline passed before it was renewed');
      const sent = this.#now();
      const got = await this.o.repo.acquireOrRenew(this.o.id, this.o.url(), this.o.leaseMs);
      if (got === undefined || got.term !== this.#held?.term) return this.#lose('another controller holds the lease');
      if (this.#now() >= this.#deadline) return this.#lose('the renewal came back after the lease deadline');
      this.#deadline = sent + this.o.leaseMs - this.#margin;
    } catch (err) {
      this.o.logger.warn({ err: errorMessage(err) }, 'leadership renewal failed');
      if (this.#now() >= this.#deadline) this.#lose('the store could not be reached before the lease deadline');
    } finally {
      this.#renewing = false;
    }
  }

  #lose(reason: string): void {
    if (this.#lost) return;
    this.#lost = true;
    clearInterval(this.#timer);
    this.o.logger.error({ term: this.#held?.term, reason }, 'leadership lost: this controller stops orchestrating');
    this.o.onLost(reason);
  }
}
