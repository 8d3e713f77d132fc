import type { Placement } from './enactment.js';

/** A host that can take `free` more VMs of the lease's shape over the whole window. */
export interface HostCandidate {
  readonly host: number;
  readonly free: number;
}

/** Spreads `vms` VMs over candidates (whose free counts add up to at least `vms`). */
export interface HostSelectionPolicy {
  readonly name: string;
  allocate(candidates: readonly HostCandidate[], vms: number): Placement[];
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
  // In host order, as many VMs on each as fit.
  greedy: { name: 'greedy', allocate: (c, vms) => fill([...c].sort((a, b) => a.host - b.host), vms) },
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
