import type { CapacityDemand } from '../core/placement/host-capacity.js';
import { PlacementIndex } from '../core/placement/placement-index.js';
import type { PlacementPolicy } from '../core/placement/placement-policy.js';
import type { Store } from '../store/open-store.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import { hostViewOf } from './host-view-of.js';

export interface SchedulingHostsOptions {
  readonly store: Store;
  readonly policy: PlacementPolicy;
  /** How old the hosts may be for a placement that finds a host (default 1 s); a placement that finds none reads them afresh. */
  readonly maxAgeMs?: number | undefined;
}

/**
 * The scheduler's copy of the hosts, as a PlacementIndex: read from the store
 * at most every `maxAgeMs` instead of once per VM scheduled (a thousand host
 * rows read, parsed and filtered for each of ten thousand VMs was the
 * admission's main cost), kept current in between with the reservations this
 * controller makes. The store stays the authority: the binding transaction
 * checks the host again, a host found full there is read back alone
 * (`refreshHost`), and a VM is left waiting only on hosts read afresh — a
 * stale copy can cost a retry, never a VM that waits while room exists.
 */
export class SchedulingHosts {
  readonly #o: SchedulingHostsOptions;
  readonly #maxAgeMs: number;
  #index: PlacementIndex | undefined;
  #readAt = -Infinity;
  #reading: Promise<PlacementIndex> | undefined;
  #queued: Promise<PlacementIndex> | undefined;
  /** Counts reads started: a reservation made while one was under way may be in it or not, so it is not added on top. */
  #generation = 0;

  constructor(o: SchedulingHostsOptions) {
    this.#o = o;
    this.#maxAgeMs = o.maxAgeMs ?? 1_000;
  }

  get generation(): number {
    return this.#generation;
  }

  /** The index, read afresh when older than maxAgeMs; `fresh` when it was read after this call. */
  async current(): Promise<{ index: PlacementIndex; fresh: boolean }> {
    if (this.#reading !== undefined) return { index: await this.#reading, fresh: false };
    if (this.#index !== undefined && performance.now() - this.#readAt < this.#maxAgeMs) return { index: this.#index, fresh: false };
    return { index: await this.refresh(), fresh: true };
  }

  /**
   * Reads every host from the store, in a read that starts after this call.
   * Callers that come while a read is under way share the one read queued after it.
   */
  refresh(): Promise<PlacementIndex> {
    const reading = this.#reading;
    if (reading === undefined) return this.#read();
    const settled = (): void => {};
    return (this.#queued ??= reading.then(settled, settled).then(() => {
      this.#queued = undefined;
      return this.#read();
    }));
  }

  #read(): Promise<PlacementIndex> {
    this.#generation++;
    const startedAt = performance.now();
    const reading = this.#o.store.hosts.list().then((hosts) => {
      this.#index = new PlacementIndex(this.#o.policy, hosts.map(hostViewOf));
      this.#readAt = startedAt;
      return this.#index;
    });
    this.#reading = reading;
    const done = (): void => {
      if (this.#reading === reading) this.#reading = undefined;
    };
    void reading.then(done, done);
    return reading;
  }

  /** Reads one host back (the binding found it full, or in another state). */
  async refreshHost(hostId: string): Promise<void> {
    const host = await findOrUndefined(this.#o.store.hosts.get(hostId));
    if (this.#index === undefined) return;
    if (host === undefined) this.#index.remove(hostId);
    else this.#index.upsert(hostViewOf(host));
  }

  /** A reservation this controller bound: counted on the host until the next read, unless a read started since `generation`. */
  reserved(hostId: string, demand: CapacityDemand, generation: number): void {
    if (generation !== this.#generation || this.#index === undefined) return;
    try {
      this.#index.reserve(hostId, demand);
    } catch {
      // The copy thought the host fuller than the store did: reading it back mends that.
      void this.refreshHost(hostId).catch(() => {});
    }
  }
}
