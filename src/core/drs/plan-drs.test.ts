import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDrs } from './plan-drs.js';
import { compileDrsPolicy } from './drs-policy.js';
import type { DrsCluster, DrsHost, DrsVm } from './drs-cluster.js';
import { ValidationError } from '../../errors/validation-error.js';

const NOW = Date.parse('2026-12-05T04:00:00Z');
const host = (id: string, extra: Partial<DrsHost> = {}): DrsHost => ({ id, name: id, cpus: 4, memoryMiB: 8192, vcpuLimit: 16, ...extra });
const vm = (id: string, hostId: string, cpuUse: number, extra: Partial<DrsVm> = {}): DrsVm =>
  ({ id, name: id, hostId, vcpus: 1, memoryMiB: 512, cpuUse, memoryUseMiB: 256, ...extra });

/** Four hosts; h1 carries every busy VM. */
function skewed(): DrsCluster {
  const vms = [1, 2, 3, 4, 5, 6, 7, 8].map((k) => vm(`v${k}`, 'h1', 0.6));
  return { hosts: ['h1', 'h2', 'h3', 'h4'].map((h) => host(h)), vms, now: NOW };
}

test('balance: moves VMs off the busy host until the imbalance is at or below the threshold, each move with its reason', () => {
  const policy = compileDrsPolicy({ threshold: 0.05, hysteresis: 0.02, maxMoves: 10 });
  const plan = planDrs(skewed(), policy);
  assert.ok(plan.imbalanceBefore > 0.07, `before ${plan.imbalanceBefore}`);
  assert.ok(plan.imbalanceAfter <= 0.05, `after ${plan.imbalanceAfter}`);
  assert.ok(plan.moves.length > 0 && plan.moves.length <= 10);
  for (const m of plan.moves) {
    assert.equal(m.fromHostId, 'h1');
    assert.match(m.reason, /h1 \(CPU \d+%, memory \d+%\) → h[234] .*imbalance, \d\.\d{3} → \d\.\d{3}/);
  }
  // Each step lowers the imbalance.
  let last = plan.imbalanceBefore;
  for (const m of plan.moves) {
    assert.ok(m.imbalanceAfter < last);
    last = m.imbalanceAfter;
  }
});

test('balance: deterministic whatever the input order', () => {
  const policy = compileDrsPolicy({ threshold: 0.02, maxMoves: 10 });
  const a = skewed();
  const b: DrsCluster = { ...a, hosts: [...a.hosts].reverse(), vms: [...a.vms].reverse() };
  assert.deepEqual(planDrs(b, policy), planDrs(a, policy));
});

test('balance: hysteresis — no plan when the imbalance is at or below threshold + hysteresis', () => {
  const c = skewed();
  const first = planDrs(c, compileDrsPolicy({ threshold: 0.01, hysteresis: 0 }));
  const before = first.imbalanceBefore;
  const plan = planDrs(c, compileDrsPolicy({ threshold: before - 0.01, hysteresis: 0.02 }));
  assert.equal(plan.moves.length, 0);
  assert.match(plan.summary, /at or below threshold .* hysteresis .*nothing to do/);
  // Just above the margin it plans.
  assert.ok(planDrs(c, compileDrsPolicy({ threshold: before - 0.03, hysteresis: 0.02 })).moves.length > 0);
});

test('balance: maxMoves caps the plan', () => {
  const plan = planDrs(skewed(), compileDrsPolicy({ threshold: 0, hysteresis: 0, maxMoves: 2 }));
  assert.equal(plan.moves.length, 2);
  assert.match(plan.summary, /maxMoves 2/);
});

test('balance: a VM migrated within minMinutesBetweenMoves is never moved, and is listed as held with why', () => {
  const c = skewed();
  const recent = { ...c, vms: c.vms.map((v) => ({ ...v, lastMigratedAt: NOW - 5 * 60_000 })) };
  const plan = planDrs(recent, compileDrsPolicy({ threshold: 0, hysteresis: 0, minMinutesBetweenMoves: 10 }));
  assert.equal(plan.moves.length, 0);
  assert.equal(plan.held.length, 8);
  assert.match(plan.held[0]!.reason, /migrated 5 min ago \(not again within 10 min\)/);
  // Older than the limit: free to move.
  const old = planDrs(recent, compileDrsPolicy({ threshold: 0, hysteresis: 0, minMinutesBetweenMoves: 4 }));
  assert.ok(old.moves.length > 0);
});

test('balance: respects capacity and never picks an ineligible (standby, disabled) host', () => {
  const c: DrsCluster = {
    hosts: [host('h1'), host('h2', { memoryMiB: 512, vcpuLimit: 16 }), host('h3', { ineligible: 'standby' }), host('h4', { ineligible: 'disabled' })],
    vms: [vm('a', 'h1', 1), vm('b', 'h1', 1), vm('c', 'h1', 1), vm('d', 'h2', 0, { unmovable: 'has volumes' })],
    now: NOW,
  };
  const plan = planDrs(c, compileDrsPolicy({ threshold: 0, hysteresis: 0, maxMoves: 5 }));
  // h2 is full (memory) and its VM may not move, h3/h4 ineligible: no move is possible.
  assert.deepEqual(plan.moves, []);
  assert.match(plan.summary, /no further move/);
});

test('balance and consolidate: a VM goes only to a host its requirements admit', () => {
  const policy = compileDrsPolicy({ threshold: 0.05, hysteresis: 0.02, maxMoves: 10 });
  // Every busy VM admits only h1 and h3: all moves go to h3, whatever h2 and h4 would gain.
  const only13 = new Set(['h1', 'h3']);
  const c: DrsCluster = { ...skewed(), vms: skewed().vms.map((v) => ({ ...v, allowedHostIds: only13 })) };
  const free = planDrs(skewed(), policy);
  assert.ok(free.moves.some((m) => m.toHostId !== 'h3'), 'without requirements the plan spreads the VMs');
  const plan = planDrs(c, policy);
  assert.ok(plan.moves.length > 0);
  assert.deepEqual([...new Set(plan.moves.map((m) => m.toHostId))], ['h3']);
  // A VM that admits only its own host is never moved; consolidation cannot empty that host.
  const pinned: DrsCluster = {
    hosts: ['h1', 'h2', 'h3'].map((h) => host(h)),
    vms: [vm('a', 'h1', 0.5), vm('b', 'h1', 0.5), vm('c', 'h2', 0.2, { allowedHostIds: new Set(['h2']) }), vm('d', 'h3', 0.1)],
    now: NOW,
  };
  const packed = planDrs(pinned, compileDrsPolicy({ mode: 'consolidate', maxMoves: 5 }));
  assert.ok(!packed.moves.some((m) => m.vmId === 'c'), JSON.stringify(packed.moves));
  assert.ok(!packed.standby.some((s) => s.hostId === 'h2'), JSON.stringify(packed.standby));
  // d empties h3 onto h1; h1 then takes VMs in the plan and is not emptied in turn (d would move twice).
  assert.deepEqual(packed.standby.map((s) => s.hostId), ['h3']);
  assert.deepEqual(packed.moves.map((m) => [m.vmId, m.toHostId]), [['d', 'h1']]);
  assert.match(packed.summary, /h1: takes VMs in this plan/);
});

test('consolidate: packs VMs to empty the least used hosts and puts them on standby', () => {
  const c: DrsCluster = {
    hosts: ['h1', 'h2', 'h3'].map((h) => host(h)),
    vms: [vm('a', 'h1', 0.5), vm('b', 'h1', 0.5), vm('c', 'h2', 0.2), vm('d', 'h3', 0.1)],
    now: NOW,
  };
  const plan = planDrs(c, compileDrsPolicy({ mode: 'consolidate', maxMoves: 5 }));
  assert.deepEqual(plan.standby.map((s) => s.hostId).sort(), ['h2', 'h3']);
  assert.deepEqual(plan.moves.map((m) => [m.vmId, m.toHostId]).sort(), [['c', 'h1'], ['d', 'h1']]);
  assert.match(plan.moves[0]!.reason, /empties h[23]/);
});

test('consolidate: keeps one host, respects maxHostUse and skips a host holding a VM that may not move', () => {
  const c: DrsCluster = {
    hosts: ['h1', 'h2', 'h3'].map((h) => host(h)),
    vms: [vm('a', 'h1', 3), vm('b', 'h2', 3), vm('c', 'h3', 1, { unmovable: 'suspended' })],
    now: NOW,
  };
  const plan = planDrs(c, compileDrsPolicy({ mode: 'consolidate', maxHostUse: 0.8 }));
  // a or b (3 CPUs) with any other exceeds 80% of 4 CPUs: neither h1 nor h2 can be emptied; h3 holds a suspended VM.
  assert.deepEqual(plan.standby, []);
  assert.match(plan.summary, /h3: holds a VM that may not move now/);
  const empty: DrsCluster = { hosts: [host('h1'), host('h2')], vms: [], now: NOW };
  assert.equal(planDrs(empty, compileDrsPolicy({ mode: 'consolidate' })).standby.length, 1);
});

test('policy: bad fields are named and refused', () => {
  assert.throws(() => compileDrsPolicy({ threshold: 2, mode: 'spread', maxMoves: 1.5 }), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    assert.deepEqual(err.issues.map((i) => i.field).sort(), ['maxMoves', 'mode', 'threshold']);
    return true;
  });
  assert.throws(() => compileDrsPolicy({ bogus: 1 } as never), /bogus: is not a DRS policy field/);
});

test('balance: on a large cluster each move still counts (the gain floor does not shrink with the number of hosts)', () => {
  const hosts = Array.from({ length: 100 }, (_, i) => host(`h${String(i).padStart(3, '0')}`));
  const vms = Array.from({ length: 40 }, (_, k) => vm(`v${String(k).padStart(2, '0')}`, 'h000', 0.1, { memoryUseMiB: 100 }));
  const plan = planDrs({ hosts, vms, now: NOW }, compileDrsPolicy({ threshold: 0, hysteresis: 0, maxMoves: 10 }));
  assert.equal(plan.moves.length, 10, plan.summary);
});
