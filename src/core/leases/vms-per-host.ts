import type { LeaseRequest } from './lease.js';
import type { HostCapacity } from './slot-table.js';

/**
 * How many VMs of a shape the largest host can hold, memoised per shape: the
 * scheduler asks it for every lease (a lease needing more per host than any
 * host holds cannot be placed), and a trace has few distinct shapes.
 */
export function vmsPerHost(hosts: readonly HostCapacity[]): (shape: LeaseRequest['shape']) => number {
  const perShape = new Map<string, number>();
  return (shape) => {
    const key = `${shape.cpus}/${shape.memoryMiB}`;
    let n = perShape.get(key);
    if (n === undefined) {
      n = Math.max(0, ...hosts.map((c) => Math.min(Math.floor(c.cpus / shape.cpus + 1e-9), Math.floor(c.memoryMiB / shape.memoryMiB + 1e-9))));
      perShape.set(key, n);
    }
    return n;
  };
}
