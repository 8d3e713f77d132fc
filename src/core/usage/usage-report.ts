import type { VmState } from '../vm-state.js';
import { formatFixed, roundHalfUp } from './fixed-point.js';
import { usageChargeOf } from './usage-charge.js';
import type { UsageMonth } from './usage-month.js';
import { PRICE_DECIMALS, usagePricesView, type UsagePrices } from './usage-prices.js';

/** One usage record: a VM in one state with fixed amounts, from `from` until `to` (null: still open). */
export interface UsageInterval {
  readonly vmId: string;
  readonly vmName: string;
  readonly ownerId: string;
  /** The group the interval is charged to (the owner's at the time it opened); null: none. */
  readonly groupId: string | null;
  readonly state: VmState;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly diskMib: number;
  /** Epoch milliseconds. */
  readonly from: number;
  readonly to: number | null;
}

/** Figures as shown: hours to 6 places, the cost to the prices' decimals — all decimal strings, exact. */
export interface UsageFigures {
  readonly vcpuHours: string;
  readonly memoryGibHours: string;
  readonly diskGibHours: string;
  readonly cost: string;
}

export interface UsageLine extends UsageFigures {
  readonly vmId: string;
  readonly vmName: string;
  readonly ownerId: string;
  readonly groupId: string | null;
  /** Exact charged quantities in unit-milliseconds (decimal strings: they may pass 2^53). */
  readonly vcpuMs: string;
  readonly memoryMibMs: string;
  readonly diskMibMs: string;
  /** Milliseconds the VM spent in each state within the report's span (charged or not). */
  readonly states: Partial<Record<VmState, number>>;
}

export interface UsageTotal extends UsageFigures {
  readonly vms: number;
}

export interface UsageReport {
  readonly month: string;
  readonly from: string;
  /** Where the report ends: the month's end, or now for the month under way. */
  readonly until: string;
  readonly prices: ReturnType<typeof usagePricesView>;
  readonly lines: readonly UsageLine[];
  readonly users: readonly (UsageTotal & { readonly ownerId: string })[];
  readonly groups: readonly (UsageTotal & { readonly groupId: string | null })[];
  readonly total: UsageTotal;
}

const MS_PER_HOUR = 3_600_000n;
const MIB_PER_GIB = 1024n;
/** Quantities are shown in millionths of an hour. */
export const QUANTITY_DECIMALS = 6;
const Q = 10n ** BigInt(QUANTITY_DECIMALS);

/** A line's figures in fixed point (millionths of an hour; 10^-decimals of the currency), as rounded once. */
interface Rounded {
  vcpu: bigint;
  memory: bigint;
  disk: bigint;
  cost: bigint;
}

/**
 * The showback of `intervals` for `month`, up to `now` (epoch ms).
 *
 * Each interval is clipped to [month start, min(month end, now)) — so one
 * spanning a month boundary is split there (UTC), and an open one is charged
 * up to the report's end — and charged by its state (usage-charge.ts): vCPU·ms,
 * MiB·ms of memory and of disk, exact integers.
 *
 * The rounding rule, the only one: each line (one VM, and the group it was
 * charged to) is rounded once from its exact figures, half up — hours to 6
 * places, the cost (Σ quantity × price, exact) to the prices' `decimals`.
 * Every total, per user, per group and overall, is the sum of its rounded
 * lines, so the lines add up to the totals exactly.
 */
export function computeUsageReport(input: { intervals: readonly UsageInterval[]; month: UsageMonth; now: number; prices: UsagePrices }): UsageReport {
  const { month, prices } = input;
  const until = Math.max(month.start, Math.min(month.end, input.now));
  const acc = new Map<string, { head: Omit<UsageLine, keyof UsageFigures | 'vcpuMs' | 'memoryMibMs' | 'diskMibMs' | 'states'>; vcpuMs: bigint; memoryMibMs: bigint; diskMibMs: bigint; states: Map<VmState, number> }>();
  for (const i of input.intervals) {
    const from = Math.max(i.from, month.start);
    const to = Math.min(i.to ?? until, until);
    if (to <= from) continue;
    const ms = BigInt(to - from);
    const key = `${i.vmId}\u0000${i.groupId ?? ''}`;
    let a = acc.get(key);
    if (!a) acc.set(key, (a = { head: { vmId: i.vmId, vmName: i.vmName, ownerId: i.ownerId, groupId: i.groupId }, vcpuMs: 0n, memoryMibMs: 0n, diskMibMs: 0n, states: new Map() }));
    // The newest name wins: a VM is renamed only by being another VM, but keep the line stable if it ever is.
    a.head = { ...a.head, vmName: i.vmName };
    a.states.set(i.state, (a.states.get(i.state) ?? 0) + (to - from));
    const charge = usageChargeOf(i.state);
    if (charge === 'compute') {
      a.vcpuMs += BigInt(i.vcpus) * ms;
      a.memoryMibMs += BigInt(i.memoryMib) * ms;
    }
    if (charge !== 'none') a.diskMibMs += BigInt(i.diskMib) * ms;
  }
  const costScale = 10n ** BigInt(prices.decimals);
  // cost = vcpuMs·p/h + mibMs·p/(1024·h), prices in 10^-9: one common denominator keeps it exact until the one rounding.
  const costDen = MS_PER_HOUR * MIB_PER_GIB * 10n ** BigInt(PRICE_DECIMALS);
  const lines: { line: UsageLine; r: Rounded }[] = [];
  for (const a of acc.values()) {
    const r: Rounded = {
      vcpu: roundHalfUp(a.vcpuMs * Q, MS_PER_HOUR),
      memory: roundHalfUp(a.memoryMibMs * Q, MS_PER_HOUR * MIB_PER_GIB),
      disk: roundHalfUp(a.diskMibMs * Q, MS_PER_HOUR * MIB_PER_GIB),
      cost: roundHalfUp((a.vcpuMs * MIB_PER_GIB * prices.vcpuHour + a.memoryMibMs * prices.memoryGibHour + a.diskMibMs * prices.diskGibHour) * costScale, costDen),
    };
    lines.push({
      r,
      line: {
        ...a.head, ...figures(r, prices.decimals),
        vcpuMs: a.vcpuMs.toString(), memoryMibMs: a.memoryMibMs.toString(), diskMibMs: a.diskMibMs.toString(),
        states: Object.fromEntries([...a.states].sort(([x], [y]) => x.localeCompare(y))),
      },
    });
  }
  lines.sort((x, y) => cmp(x.line.ownerId, y.line.ownerId) || cmp(x.line.groupId ?? '', y.line.groupId ?? '') || cmp(x.line.vmName, y.line.vmName) || cmp(x.line.vmId, y.line.vmId));
  const totalOf = (subset: readonly { line: UsageLine; r: Rounded }[]): UsageTotal => {
    const sum: Rounded = { vcpu: 0n, memory: 0n, disk: 0n, cost: 0n };
    for (const { r } of subset) {
      sum.vcpu += r.vcpu;
      sum.memory += r.memory;
      sum.disk += r.disk;
      sum.cost += r.cost;
    }
    return { ...figures(sum, prices.decimals), vms: new Set(subset.map((l) => l.line.vmId)).size };
  };
  const by = <K extends string | null>(key: (l: UsageLine) => K): [K, typeof lines][] => {
    const m = new Map<K, typeof lines>();
    for (const l of lines) {
      const k = key(l.line);
      let group = m.get(k);
      if (!group) m.set(k, (group = []));
      group.push(l);
    }
    return [...m];
  };
  return {
    month: month.month,
    from: new Date(month.start).toISOString(),
    until: new Date(until).toISOString(),
    prices: usagePricesView(prices),
    lines: lines.map((l) => l.line),
    users: by((l) => l.ownerId).map(([ownerId, ls]) => ({ ownerId, ...totalOf(ls) })),
    groups: by((l) => l.groupId).map(([groupId, ls]) => ({ groupId, ...totalOf(ls) })),
    total: totalOf(lines),
  };
}

function figures(r: Rounded, decimals: number): UsageFigures {
  const q = (v: bigint): string => formatFixed(v, QUANTITY_DECIMALS);
  return { vcpuHours: q(r.vcpu), memoryGibHours: q(r.memory), diskGibHours: q(r.disk), cost: formatFixed(r.cost, decimals) };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
