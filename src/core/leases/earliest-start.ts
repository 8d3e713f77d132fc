import type { VmShape } from './lease.js';
import type { Placement } from './enactment.js';
import type { HostCandidate } from './host-selection-policy.js';
import type { SlotTable } from './slot-table.js';

/** Hosts that can take VMs of `shape` during all of [from, to), with how many. */
export function candidatesOver(table: SlotTable, from: number, to: number, shape: VmShape): HostCandidate[] {
  const out: HostCandidate[] = [];
  for (let h = 0; h < table.hostCount; h++) {
    const free = table.vmsFree(h, from, to, shape);
    if (free > 0) out.push({ host: h, free });
  }
  return out;
}

export const totalFree = (c: readonly HostCandidate[]): number => c.reduce((n, x) => n + x.free, 0);

/**
 * The earliest t ≥ from at which `vms` VMs of `shape` fit on the hosts
 * during [t, t+length). Instead of trying every change point it jumps to a
 * lower bound: the lease needs at least ⌈vms ÷ most VMs a host takes⌉ hosts,
 * so it cannot start before that many hosts each have a fitting window.
 */
export function earliestStart(table: SlotTable, from: number, length: number, shape: VmShape, vms: number): number {
  const perHostMax = Math.max(1, ...table.hosts.map((c) => Math.min(Math.floor(c.cpus / shape.cpus + 1e-9), Math.floor(c.memoryMiB / shape.memoryMiB + 1e-9))));
  const needHosts = Math.ceil(vms / perHostMax);
  let t = from;
  for (let iter = 0; iter < 100_000 && t < Infinity; iter++) {
    if (totalFree(candidatesOver(table, t, t + length, shape)) >= vms) return t;
    const e: number[] = [];
    for (let h = 0; h < table.hostCount; h++) e.push(table.earliestFit(h, t, length, shape, 1));
    e.sort((a, b) => a - b);
    let next = e[needHosts - 1] ?? Infinity;
    if (next <= t) {
      next = Infinity;
      for (let h = 0; h < table.hostCount; h++) next = Math.min(next, table.nextChange(h, t));
    }
    t = next;
  }
  return Infinity;
}

/** The earliest t ≥ from at which every placement's host holds its VMs during [t, t+length) (a resume where the memory is). */
export function earliestStartOn(table: SlotTable, placements: readonly Placement[], from: number, length: number, shape: VmShape): number {
  let t = from;
  for (let iter = 0; iter < 100_000 && t < Infinity; iter++) {
    let next = t;
    for (const p of placements) next = Math.max(next, table.earliestFit(p.host, t, length, shape, p.vms));
    if (next === t) return t;
    t = next;
  }
  return Infinity;
}
