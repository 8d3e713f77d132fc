import type { HostView } from './host-view.js';
import { hostCpuOvercommit } from './host-capacity.js';

/** Higher is better. */
export type HostRanker = (host: HostView, context: { readonly cpuOvercommit: number }) => number;

export interface RankedHost {
  readonly hostId: string;
  readonly score: number;
}

const share = (reserved: number, total: number): number => (total > 0 ? reserved / total : 1);

/**
 * How full a host is: the larger of its reserved CPU share (of the
 * overcommitted capacity) and its reserved memory share — the dominant
 * resource, so that a host full on memory but idle on CPU counts as full.
 */
export function utilisation(host: HostView, cpuOvercommit: number): number {
  return Math.max(share(host.reservedCpus, host.totalCpus * hostCpuOvercommit(host, cpuOvercommit)), share(host.reservedMemoryMiB, host.totalMemoryMiB));
}

/** Fullest first: fills hosts one by one and leaves others empty (to power down, or for big VMs). */
export const packingRanker: HostRanker = (host, { cpuOvercommit }) => utilisation(host, cpuOvercommit);

/** Emptiest first: spreads VMs for performance and a smaller blast radius. */
export const stripingRanker: HostRanker = (host, { cpuOvercommit }) => 1 - utilisation(host, cpuOvercommit);

/** Least loaded (actual CPU usage, not reservations) first. */
export const loadAwareRanker: HostRanker = (host) => 1 - host.load;

// Code-unit order, not localeCompare: the same everywhere, whatever the locale.
const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Hosts best first; equal scores in host id order. A NaN score (a rank
 * expression dividing by zero, a host without a load report) ranks last.
 */
export function rankHosts(hosts: readonly HostView[], ranker: HostRanker, context: { readonly cpuOvercommit: number }): RankedHost[] {
  return hosts
    .map((h) => {
      const score = ranker(h, context);
      return { hostId: h.id, score: Number.isNaN(score) ? -Infinity : score };
    })
    .sort((a, b) => (a.score === b.score ? byId(a.hostId, b.hostId) : b.score - a.score));
}
