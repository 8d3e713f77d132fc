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

/** The earliest t ≥ from at which every placement's host holds its VMs during [t, t+length) (a resume where the memory is); Infinity past `limit`. */
export function earliestStartOn(table: SlotTable, placements: readonly Placement[], from: number, length: number, shape: VmShape, limit = Infinity): number {
  let t = from;
  for (let iter = 0; iter < 100_000 && t <= limit; iter++) {
    let next = t;
    for (const p of placements) next = Math.max(next, table.earliestFit(p.host, t, length, shape, p.vms));
    if (next === t) return t;
    t = next;
  }
  return Infinity;
}

/**
 * When `vms` VMs of `shape` surely fit for as long as wanted, from the hosts' room for good (`freeForGood`, sorted by
 * time): when enough hosts have room after their last booking. An upper bound on earliestStart for any length.
 */
export function surelyFreeBy(free: readonly { from: number; vms: number }[], from: number, vms: number): number {
  let n = 0;
  for (const f of free) {
    n += f.vms;
    if (n >= vms) return Math.max(from, f.from);
  }
  return Infinity;
}

/** Every host's room for good (`SlotTable.freeForGood`), soonest first: the input of surelyFreeBy. */
export function freeForGood(table: SlotTable, shape: VmShape): { from: number; vms: number }[] {
  const free: { from: number; vms: number }[] = [];
  for (let h = 0; h < table.hostCount; h++) free.push(table.freeForGood(h, shape));
  return free.sort((a, b) => a.from - b.from);
}
