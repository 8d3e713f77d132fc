import { hostCpuOvercommit, release, reserve, type CapacityDemand } from './host-capacity.js';
import { hostPasses } from './host-filters.js';
import type { HostView } from './host-view.js';
import { filterContextOf, placementResult, type PlacementResult } from './place-vm.js';
import type { PlacementPolicy } from './placement-policy.js';
import type { VmDemand } from './vm-demand.js';

interface Entry {
  readonly host: HostView;
  /** The policy's score, NaN as -Infinity: the ranking's key with the id. */
  readonly score: number;
  /** Free vCPUs (overcommitted), MiB memory, MiB disk; -Infinity on a host that is not enabled (it never passes). */
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly diskMiB: number;
}

/** Hosts per block; each block keeps the most free capacity of its hosts, so a scan skips blocks that cannot take the demand. */
const BLOCK = 32;
// Wider than host-capacity's slack: a skip must never drop a host that fits, scanning one too many costs nothing.
const SLACK = 1e-6;

const before = (a: Entry, score: number, id: string): boolean => a.score > score || (a.score === score && a.host.id < id);

/**
 * Hosts kept in the policy's ranking order (score, best first, then id), with
 * the largest free CPU, memory and disk of each block of 32 hosts. Placing a
 * VM walks the ranking from the top, skipping blocks where no host has room,
 * and takes the first host that passes every filter: the same host placeVm
 * chooses from the same hosts (place-vm.test's property test compares them),
 * without scoring every host on every request. Reservations and heartbeats
 * move a host within the order (`upsert`).
 *
 * The scores must depend on the host view alone (every built-in ranker and
 * rank expression does): a score that changed without an upsert would leave
 * the order stale.
 */
export class PlacementIndex {
  readonly #policy: PlacementPolicy;
  readonly #order: Entry[] = [];
  /** Per block: largest free vCPUs, MiB memory, MiB disk of its enabled hosts (-Infinity when none is enabled). */
  #blockFree = new Float64Array(0);
  /** Every host, in no particular order: what the explanation of a placement reads. */
  readonly #views: HostView[] = [];
  readonly #slot = new Map<string, number>();

  constructor(policy: PlacementPolicy, hosts: Iterable<HostView> = []) {
    this.#policy = policy;
    for (const h of hosts) {
      const at = this.#slot.get(h.id);
      if (at === undefined) {
        this.#slot.set(h.id, this.#views.length);
        this.#views.push(h);
      } else {
        this.#views[at] = h;
      }
    }
    for (const h of this.#views) this.#order.push(this.#entry(h));
    this.#order.sort((a, b) => (before(a, b.score, b.host.id) ? -1 : before(b, a.score, a.host.id) ? 1 : 0));
    this.#refreshBlocks(0);
  }

  get size(): number {
    return this.#views.length;
  }

  get(hostId: string): HostView | undefined {
    const at = this.#slot.get(hostId);
    return at === undefined ? undefined : this.#views[at];
  }

  /** Every host, in no particular order. */
  hosts(): readonly HostView[] {
    return this.#views.slice();
  }

  /** Adds the host, or replaces the one with its id (a heartbeat, a reservation read back from the store). */
  upsert(host: HostView): void {
    const at = this.#slot.get(host.id);
    const entry = this.#entry(host);
    if (at === undefined) {
      this.#slot.set(host.id, this.#views.length);
      this.#views.push(host);
      const to = this.#insertionPoint(entry.score, host.id);
      this.#order.splice(to, 0, entry);
      this.#refreshBlocks(to); // every block after it shifted
      return;
    }
    const old = this.#views[at]!;
    this.#views[at] = host;
    const from = this.#find(this.#score(old), old.id);
    // Out and back in at its new place: splice moves the hosts between as one memory move (copyWithin does not, on an array of objects).
    const order = this.#order;
    order.splice(from, 1);
    const to = this.#insertionPoint(entry.score, host.id);
    order.splice(to, 0, entry);
    this.#refreshBlocks(Math.min(from, to), Math.max(from, to));
  }

  remove(hostId: string): void {
    const at = this.#slot.get(hostId);
    if (at === undefined) return;
    const old = this.#views[at]!;
    const from = this.#find(this.#score(old), old.id);
    this.#order.splice(from, 1);
    const last = this.#views.pop()!;
    this.#slot.delete(hostId);
    if (last.id !== hostId) {
      this.#views[at] = last;
      this.#slot.set(last.id, at);
    }
    this.#refreshBlocks(from);
  }

  /** The host with `demand` added to its reservations (core's `reserve`: throws PlacementError when it no longer fits). */
  reserve(hostId: string, demand: CapacityDemand): HostView | undefined {
    const host = this.get(hostId);
    if (host === undefined) return undefined;
    const next = reserve(host, demand, { cpuOvercommit: this.#policy.cpuOvercommit });
    this.upsert(next);
    return next;
  }

  release(hostId: string, demand: CapacityDemand): HostView | undefined {
    const host = this.get(hostId);
    if (host === undefined) return undefined;
    const next = release(host, demand);
    this.upsert(next);
    return next;
  }

  /**
   * placeVm(demand, hosts(), policy), without looking at every host. Does not
   * reserve. When nothing fits every host is looked at anyway, for the
   * reasons. Unlike placeVm's, the ranking and reasons of a placement are
   * worked out from the hosts as they are when first read: copying every
   * host on every placement, for an explanation the scheduler never reads,
   * was most of the indexed placement's cost (in garbage collection).
   * @throws ValidationError when demand.requirements does not compile.
   */
  place(demand: VmDemand): PlacementResult {
    const context = filterContextOf(demand, this.#policy);
    const order = this.#order;
    const free = this.#blockFree;
    let best: HostView | undefined;
    for (let b = 0, start = 0; start < order.length && best === undefined; b++, start += BLOCK) {
      if (demand.vcpus > free[3 * b]! + SLACK || demand.memoryMiB > free[3 * b + 1]! + SLACK || demand.diskMiB > free[3 * b + 2]! + SLACK) continue;
      const end = Math.min(order.length, start + BLOCK);
      for (let i = start; i < end; i++) {
        const host = order[i]!.host;
        if (hostPasses(host, demand, context)) {
          best = host;
          break;
        }
      }
    }
    return placementResult(best, demand, () => this.#views.slice(), this.#policy, context);
  }

  #score(host: HostView): number {
    const raw = this.#policy.rank(host, { cpuOvercommit: this.#policy.cpuOvercommit });
    return Number.isNaN(raw) ? -Infinity : raw;
  }

  #entry(host: HostView): Entry {
    const score = this.#score(host);
    if (host.state !== 'enabled') return { host, score, cpus: -Infinity, memoryMiB: -Infinity, diskMiB: -Infinity };
    return {
      host, score,
      cpus: host.totalCpus * hostCpuOvercommit(host, this.#policy.cpuOvercommit) - host.reservedCpus,
      memoryMiB: host.totalMemoryMiB - host.reservedMemoryMiB,
      diskMiB: host.totalDiskMiB - host.reservedDiskMiB,
    };
  }

  /** The first position whose entry does not rank before (score, id). */
  #insertionPoint(score: number, id: string): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.#order[mid]!, score, id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #find(score: number, id: string): number {
    const at = this.#insertionPoint(score, id);
    if (this.#order[at]?.host.id !== id) throw new Error(`placement index out of order: host ${id} not at its rank`);
    return at;
  }

  /** Recomputes the blocks holding positions from..to (to the end when `to` is left out). */
  #refreshBlocks(from: number, to = this.#order.length): void {
    const blocks = Math.ceil(this.#order.length / BLOCK);
    if (this.#blockFree.length !== 3 * blocks) {
      const grown = new Float64Array(3 * blocks);
      grown.set(this.#blockFree.subarray(0, Math.min(grown.length, this.#blockFree.length)));
      this.#blockFree = grown;
      to = this.#order.length;
    }
    for (let b = Math.floor(from / BLOCK); b < blocks && b * BLOCK <= to; b++) {
      let cpus = -Infinity;
      let mem = -Infinity;
      let disk = -Infinity;
      const end = Math.min(this.#order.length, (b + 1) * BLOCK);
      for (let i = b * BLOCK; i < end; i++) {
        const e = this.#order[i]!;
        if (e.cpus > cpus) cpus = e.cpus;
        if (e.memoryMiB > mem) mem = e.memoryMiB;
        if (e.diskMiB > disk) disk = e.diskMiB;
      }
      this.#blockFree[3 * b] = cpus;
      this.#blockFree[3 * b + 1] = mem;
      this.#blockFree[3 * b + 2] = disk;
    }
  }
}
