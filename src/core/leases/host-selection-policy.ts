import type { Placement } from './enactment.js';

/** A host that can take `free` more VMs of the lease's shape over the whole window. */
export interface HostCandidate {
  readonly host: number;
  readonly free: number;
}

/** What a policy may ask about a candidate host at the time the lease would start there. */
export interface HostView {
  /** How many leases are booked on the host at that time. */
  leasesAt(host: number): number;
  /** Seconds until the host's booked capacity next changes after that time (Infinity: never). */
  stableFor(host: number): number;
  /** The lease's requested duration, seconds. */
  readonly durationS: number;
}

/** Spreads `vms` VMs over candidates (whose free counts add up to at least `vms`). */
export interface HostSelectionPolicy {
  readonly name: string;
  allocate(candidates: readonly HostCandidate[], vms: number, view?: HostView): Placement[];
}

/** Haizea's leases_in_node_horizon: more leases than this on a host score as this many. */
const LEASES_HORIZON = 4;

/**
 * Haizea's GreedyPolicy.get_host_score (pluggable/policies/host_selection.py):
 * 0.5 × fewer leases on the host at the start (capped at 4) + 0.25 × capacity
 * (a constant there: "TODO: normalize") + 0.25 × how long the host's capacity
 * stays as it is, up to the lease's requested duration.
 */
export function greedyHostScore(host: number, view: HostView): number {
  const leases = Math.min(view.leasesAt(host), LEASES_HORIZON);
  const stable = view.stableFor(host);
  const duration = stable >= view.durationS || view.durationS <= 0 ? 1 : stable / view.durationS;
  return 0.5 * ((LEASES_HORIZON - leases) / LEASES_HORIZON) + 0.25 + 0.25 * duration;
}

function fill(order: readonly HostCandidate[], vms: number): Placement[] {
  const out: Placement[] = [];
  let left = vms;
  for (const c of order) {
    if (left === 0) break;
    const n = Math.min(c.free, left);
    if (n > 0) out.push({ host: c.host, vms: n });
    left -= n;
  }
  return out;
}

export const HOST_SELECTION_POLICIES: Readonly<Record<string, HostSelectionPolicy>> = {
  // In host order, as many VMs on each as fit: the order Haizea's HPDC 2008 code mapped best effort in (`physnodes.sort()`
  // in __fit_asap), which the bench's paper comparison runs.
  greedy: { name: 'greedy', allocate: (c, vms) => fill([...c].sort((a, b) => a.host - b.host), vms) },
  // Haizea 1.0's greedy mapper with its greedy host selection policy: hosts by score, best first (fewest leases on them,
  // then the longest until their capacity changes — so work avoids hosts an AR or a reservation is about to take); equal
  // scores in host order (Python's stable sort over the slot table's node order); as many VMs on each as fit.
  'greedy-score': {
    name: 'greedy-score',
    allocate: (c, vms, view) => {
      const byHost = [...c].sort((a, b) => a.host - b.host);
      if (view === undefined) return fill(byHost, vms);
      const score = new Map(byHost.map((x) => [x.host, greedyHostScore(x.host, view)]));
      return fill(byHost.sort((a, b) => score.get(b.host)! - score.get(a.host)! || a.host - b.host), vms);
    },
  },
  // Fullest hosts first, keeping whole hosts free for wide leases.
  packing: { name: 'packing', allocate: (c, vms) => fill([...c].sort((a, b) => a.free - b.free || a.host - b.host), vms) },
  // One VM per host in turn, emptiest first: a host's failure or preemption touches fewer of the lease's VMs.
  striping: {
    name: 'striping',
    allocate: (c, vms) => {
      const order = [...c].sort((a, b) => b.free - a.free || a.host - b.host);
      const count = new Map<number, number>();
      let left = vms;
      while (left > 0) {
        let placed = false;
        for (const h of order) {
          if (left === 0) break;
          const n = count.get(h.host) ?? 0;
          if (n < h.free) {
            count.set(h.host, n + 1);
            left--;
            placed = true;
          }
        }
        if (!placed) break;
      }
      return [...count].map(([host, n]) => ({ host, vms: n })).sort((a, b) => a.host - b.host);
    },
  },
};
