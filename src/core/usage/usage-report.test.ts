import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeUsageReport, type UsageInterval } from './usage-report.js';
import { parseUsageMonth } from './usage-month.js';
import { parseUsagePrices } from './usage-prices.js';
import { VM_STATES, type VmState } from '../vm-state.js';
import { formatFixed, parseFixed } from './fixed-point.js';

const at = (iso: string): number => Date.parse(iso);
const H = 3_600_000;
const dec = parseUsageMonth('2026-12');
const prices = parseUsagePrices('vcpu-hour=0.01,memory-gib-hour=0.005,disk-gib-hour=0.0001,currency=EUR,decimals=2');

const iv = (o: Partial<UsageInterval> & Pick<UsageInterval, 'state' | 'from' | 'to'>): UsageInterval => ({
  vmId: 'vm-a', vmName: 'a', ownerId: 'u1', groupId: null, vcpus: 2, memoryMib: 1024, diskMib: 10_240, ...o,
});

test('an interval across a month boundary is split there (UTC): each month gets its own hours', () => {
  const i = iv({ state: 'running', from: at('2026-11-30T22:00:00Z'), to: at('2026-12-01T03:00:00Z') });
  const nov = computeUsageReport({ intervals: [i], month: parseUsageMonth('2026-11'), now: at('2027-01-01T00:00:00Z'), prices });
  const decR = computeUsageReport({ intervals: [i], month: dec, now: at('2027-01-01T00:00:00Z'), prices });
  assert.equal(nov.lines[0]!.vcpuHours, '4.000000', '2 h × 2 vCPUs in November');
  assert.equal(decR.lines[0]!.vcpuHours, '6.000000', '3 h × 2 vCPUs in December');
  assert.equal(decR.lines[0]!.memoryGibHours, '3.000000');
  assert.equal(decR.lines[0]!.diskGibHours, '30.000000');
  assert.equal(decR.lines[0]!.vcpuMs, String(2 * 3 * H));
  assert.deepEqual(decR.lines[0]!.states, { running: 3 * H });
  // 6 vCPU-h × 0.01 + 3 GiB-h × 0.005 + 30 GiB-h × 0.0001 = 0.06 + 0.015 + 0.003 = 0.078 → 0.08
  assert.equal(decR.lines[0]!.cost, '0.08');
  assert.equal(decR.from, '2026-12-01T00:00:00.000Z');
  assert.equal(decR.until, '2027-01-01T00:00:00.000Z');
});

test('an open interval is charged up to now in the month under way, and to the month\'s end in a past month', () => {
  const open = iv({ state: 'running', from: at('2026-12-05T00:00:00Z'), to: null });
  const now = at('2026-12-05T01:30:00Z');
  const r = computeUsageReport({ intervals: [open], month: dec, now, prices });
  assert.equal(r.until, '2026-12-05T01:30:00.000Z');
  assert.equal(r.lines[0]!.vcpuHours, '3.000000');
  const later = computeUsageReport({ intervals: [open], month: dec, now: at('2027-02-01T00:00:00Z'), prices });
  assert.equal(later.lines[0]!.vcpuMs, String(2 * (at('2027-01-01T00:00:00Z') - at('2026-12-05T00:00:00Z'))));
  const future = computeUsageReport({ intervals: [open], month: parseUsageMonth('2027-03'), now, prices });
  assert.deepEqual(future.lines, [], 'a month not begun has nothing');
  assert.equal(future.until, future.from);
});

test('states are charged by the rule: compute while running, disk alone while stopped, nothing pending', () => {
  const t0 = at('2026-12-10T00:00:00Z');
  const r = computeUsageReport({
    intervals: [
      iv({ state: 'pending', from: t0, to: t0 + H }),
      iv({ state: 'running', from: t0 + H, to: t0 + 2 * H }),
      iv({ state: 'stopped', from: t0 + 2 * H, to: t0 + 4 * H }),
      iv({ state: 'terminated', from: t0 + 4 * H, to: t0 + 5 * H }),
    ],
    month: dec, now: at('2027-01-01T00:00:00Z'), prices,
  });
  const l = r.lines[0]!;
  assert.equal(l.vcpuHours, '2.000000');
  assert.equal(l.memoryGibHours, '1.000000');
  assert.equal(l.diskGibHours, '30.000000', '10 GiB × (1 h running + 2 h stopped)');
  assert.deepEqual(l.states, { pending: H, running: H, stopped: 2 * H, terminated: H });
});

test('rounding: lines are rounded once, half up, and the totals are the sums of the rounded lines', () => {
  const t0 = at('2026-12-10T00:00:00Z');
  // 1 vCPU for 0.5 h at 0.01 = 0.005 exactly: rounds up to 0.01 on each line; the total is 0.02, not round(0.010) = 0.01.
  const half = (vmId: string): UsageInterval => iv({ vmId, vmName: vmId, vcpus: 1, memoryMib: 0, diskMib: 0, state: 'running', from: t0, to: t0 + H / 2 });
  const r = computeUsageReport({ intervals: [half('x'), half('y')], month: dec, now: at('2027-01-01T00:00:00Z'), prices });
  assert.deepEqual(r.lines.map((l) => l.cost), ['0.01', '0.01']);
  assert.equal(r.total.cost, '0.02');
  assert.equal(r.users[0]!.cost, '0.02');
  // 1 ms of 1 vCPU is 0.000000277… h → 0.000000; 2 ms → 0.000001 (0.000000555… rounds up).
  const tiny = (ms: number): string => computeUsageReport({ intervals: [iv({ vcpus: 1, state: 'running', from: t0, to: t0 + ms })], month: dec, now: t0 + H, prices }).lines[0]!.vcpuHours;
  assert.equal(tiny(1), '0.000000');
  assert.equal(tiny(2), '0.000001');
});

test('sums are exact: 500 random intervals, per-user, per-group and overall totals equal the sums of the lines, and the lines the exact ms', () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const start = at('2026-11-25T00:00:00Z');
  const intervals: UsageInterval[] = [];
  const vms = Array.from({ length: 40 }, (_, i) => ({ vmId: `vm-${i}`, ownerId: `u${i % 7}`, groups: [null, `g${i % 3}`] }));
  for (let k = 0; k < 500; k++) {
    const vm = vms[rnd(vms.length)]!;
    const from = start + rnd(40 * 24 * H);
    intervals.push({
      vmId: vm.vmId, vmName: vm.vmId, ownerId: vm.ownerId, groupId: vm.groups[rnd(2)] ?? null, state: VM_STATES[rnd(VM_STATES.length)] as VmState,
      vcpus: 1 + rnd(8), memoryMib: 128 * (1 + rnd(64)), diskMib: rnd(100_000), from, to: rnd(10) === 0 ? null : from + rnd(3 * 24 * H),
    });
  }
  const p = parseUsagePrices('vcpu-hour=0.0137,memory-gib-hour=0.00291,disk-gib-hour=0.000113,decimals=4');
  const r = computeUsageReport({ intervals, month: dec, now: at('2026-12-20T12:34:56.789Z'), prices: p });
  const sum = (xs: readonly string[], d: number): string => formatFixed(xs.reduce((a, x) => a + parseFixed(x, d)!, 0n), d);
  for (const field of ['vcpuHours', 'memoryGibHours', 'diskGibHours'] as const) {
    assert.equal(r.total[field], sum(r.lines.map((l) => l[field]), 6), field);
    for (const u of r.users) assert.equal(u[field], sum(r.lines.filter((l) => l.ownerId === u.ownerId).map((l) => l[field]), 6));
    for (const g of r.groups) assert.equal(g[field], sum(r.lines.filter((l) => l.groupId === g.groupId).map((l) => l[field]), 6));
    assert.equal(sum(r.users.map((u) => u[field]), 6), r.total[field]);
    assert.equal(sum(r.groups.map((g) => g[field]), 6), r.total[field]);
  }
  assert.equal(r.total.cost, sum(r.lines.map((l) => l.cost), 4));
  assert.equal(sum(r.users.map((u) => u.cost), 4), r.total.cost);
  assert.equal(sum(r.groups.map((g) => g.cost), 4), r.total.cost);
  // Independently: the clipped ms per VM and state, charged by hand.
  const until = at('2026-12-20T12:34:56.789Z');
  for (const l of r.lines) {
    let vcpuMs = 0n;
    let diskMibMs = 0n;
    const states: Record<string, number> = {};
    for (const i of intervals.filter((x) => x.vmId === l.vmId && x.groupId === l.groupId)) {
      const ms = Math.max(0, Math.min(i.to ?? until, until) - Math.max(i.from, dec.start));
      if (ms === 0) continue;
      states[i.state] = (states[i.state] ?? 0) + ms;
      if (['boot', 'running', 'migrating', 'shutdown', 'saving'].includes(i.state)) vcpuMs += BigInt(i.vcpus * ms);
      if (!['pending', 'terminated'].includes(i.state)) diskMibMs += BigInt(i.diskMib) * BigInt(ms);
    }
    assert.equal(l.vcpuMs, String(vcpuMs));
    assert.equal(l.diskMibMs, String(diskMibMs));
    assert.deepEqual(l.states, Object.fromEntries(Object.entries(states).sort(([a], [b]) => a.localeCompare(b))));
  }
  assert.equal(new Set(r.lines.map((l) => `${l.vmId}/${l.groupId}`)).size, r.lines.length, 'one line per VM and group');
});
