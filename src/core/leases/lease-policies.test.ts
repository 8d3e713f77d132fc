import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { NO_USAGE } from '../quota/quota.js';
import { ADMISSION_POLICIES } from './admission-policy.js';
import { greedyHostScore, HOST_SELECTION_POLICIES } from './host-selection-policy.js';
import { compileLeasePolicies } from './lease-policies.js';
import { compileLeaseRates, DEFAULT_LEASE_RATES } from './lease-rates.js';
import { PREEMPTABILITY_POLICIES } from './preemptability-policy.js';
import { canTransitionLease, isFinalLeaseState, LEASE_STATES, nextLeaseStates } from './lease-state.js';

const cands = [
  { host: 0, free: 1 },
  { host: 1, free: 3 },
  { host: 2, free: 2 },
];

test('host selection: greedy fills the best-scored hosts first (in host order when it sees nothing of them), packing the fullest hosts first, striping one VM per host in turn from the emptiest', () => {
  assert.deepEqual(HOST_SELECTION_POLICIES['greedy']!.allocate(cands, 3), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }]);
  const scored = HOST_SELECTION_POLICIES['greedy-score']!;
  assert.deepEqual(scored.allocate(cands, 3), HOST_SELECTION_POLICIES['greedy']!.allocate(cands, 3), 'seeing nothing of the hosts, greedy-score is greedy');
  // With what it sees of the hosts (Haizea 1.0's GreedyPolicy): host 2 is empty for good (1.0), host 1 has a lease on it now
  // (0.375 + 0.25 + 0.25 = 0.875), host 0 is free but an AR takes it in 100 s of the lease's 1000 (0.5 + 0.25 + 0.025 = 0.775).
  const view = { leasesAt: (h: number) => (h === 1 ? 1 : 0), stableFor: (h: number) => (h === 0 ? 100 : Infinity), durationS: 1000 };
  assert.deepEqual(scored.allocate(cands, 3, view), [{ host: 2, vms: 2 }, { host: 1, vms: 1 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['greedy']!.allocate(cands, 3, view), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }], 'greedy keeps host order whatever it sees');
  assert.deepEqual(scored.allocate(cands, 6, view), [{ host: 2, vms: 2 }, { host: 1, vms: 3 }, { host: 0, vms: 1 }]);
  assert.ok(Math.abs(greedyHostScore(0, view) - 0.775) < 1e-12);
  // Equal scores keep host order; more than four leases count as four.
  assert.deepEqual(scored.allocate(cands, 3, { leasesAt: () => 9, stableFor: () => 0, durationS: 10 }), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }]);
  assert.equal(greedyHostScore(0, { leasesAt: () => 9, stableFor: () => 5, durationS: 10 }), 0.25 + 0.125);
  assert.deepEqual(HOST_SELECTION_POLICIES['packing']!.allocate(cands, 3), [{ host: 0, vms: 1 }, { host: 2, vms: 2 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['striping']!.allocate(cands, 4), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }, { host: 2, vms: 1 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['striping']!.allocate(cands, 6), [{ host: 0, vms: 1 }, { host: 1, vms: 3 }, { host: 2, vms: 2 }]);
});

test('preemptability: an AR preempts preemptible best effort (youngest first, or least memory first), nothing else', () => {
  const base = { duration: 10, vms: 1, shape: { cpus: 1, memoryMiB: 1024 } };
  const ar = { ...base, id: 'ar', kind: 'ar', submit: 0, start: 100, preemptible: false } as const;
  const old = { ...base, id: 'b1', kind: 'be', submit: 5, preemptible: true } as const;
  const young = { ...base, id: 'b2', kind: 'be', submit: 9, vms: 4, preemptible: true } as const;
  const f = { ranS: 0 };
  const p = PREEMPTABILITY_POLICIES['ar-preempts-be']!;
  assert.ok(p.score(ar, young, f)! > p.score(ar, old, f)!);
  assert.equal(p.score(old, young, f), null);
  assert.equal(p.score(ar, { ...old, preemptible: false }, f), null);
  assert.equal(p.score(ar, ar, f), null);
  const m = PREEMPTABILITY_POLICIES['ar-preempts-be-least-memory']!;
  assert.ok(m.score(ar, old, f)! > m.score(ar, young, f)!);
  assert.equal(PREEMPTABILITY_POLICIES['none']!.score(ar, old, f), null);
});

test('preemptability with an age limit: past it a BE lease is spared (age-limit) or taken first (oldest-first); the limit comes from the configuration', () => {
  const base = { duration: 10_000, vms: 1, shape: { cpus: 1, memoryMiB: 1024 } };
  const ar = { ...base, id: 'ar', kind: 'ar', submit: 0, start: 100, preemptible: false } as const;
  const old = { ...base, id: 'b1', kind: 'be', submit: 5, preemptible: true } as const;
  const young = { ...base, id: 'b2', kind: 'be', submit: 9, preemptible: true } as const;
  const spare = compileLeasePolicies({ preemptability: 'ar-preempts-be-age-limit', preemptionAgeLimitS: 600 }).preemptability;
  assert.equal(spare.name, 'ar-preempts-be-age-limit');
  assert.equal(spare.score(ar, old, { ranS: 600 }), null, 'run the whole limit: not preempted');
  assert.equal(spare.score(ar, old, { ranS: 599 }), 5, 'under it: scored as ar-preempts-be');
  assert.equal(spare.score(old, young, { ranS: 0 }), null, 'BE never preempts BE');
  const first = compileLeasePolicies({ preemptability: 'ar-preempts-be-oldest-first', preemptionAgeLimitS: '600' }).preemptability;
  assert.ok(first.score(ar, old, { ranS: 700 })! > first.score(ar, young, { ranS: 10 })!, 'past the limit it goes first though submitted earlier');
  assert.ok(first.score(ar, old, { ranS: 900 })! > first.score(ar, old, { ranS: 700 })!, 'the longest-run first among those past it');
  assert.ok(first.score(ar, young, { ranS: 10 })! > first.score(ar, old, { ranS: 10 })!, 'under the limit: youngest first');
  assert.equal(PREEMPTABILITY_POLICIES['ar-preempts-be-age-limit']!.score(ar, old, { ranS: 3600 }), null, 'the default limit is an hour');
  for (const bad of [-1, 'soon', Infinity]) {
    assert.throws(() => compileLeasePolicies({ preemptability: 'ar-preempts-be-age-limit', preemptionAgeLimitS: bad }), (e: unknown) => e instanceof ValidationError && e.field === 'policies.preemptionAgeLimitS');
  }
});

test('admission quota-aware: a lease that would take its owner past a quota is refused naming it; no owner or no limits pass', () => {
  const q = ADMISSION_POLICIES['quota-aware']!;
  const req = { id: 'l', kind: 'be', submit: 0, duration: 60, vms: 3, shape: { cpus: 2, memoryMiB: 512 }, preemptible: true, owner: 'ana' } as const;
  const used = { ...NO_USAGE, vms: 2, vcpus: 4, memoryMiB: 1024, leases: 1 };
  const ctx = (limits: Record<string, number> | undefined) => ({ scopes: () => (limits === undefined ? [] : [{ name: 'ana', limits, owners: ['ana'] }]), usage: () => used });
  assert.deepEqual(q.admit(req, ctx({ vms: 5 })), { ok: true }, 'exactly at the limit fits');
  const r = q.admit(req, ctx({ vms: 5, vcpus: 9 }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /quota exceeded: ana may have 9 vcpus; 4 in use, 6 more requested \(admission policy quota-aware\)/);
  assert.equal(q.admit(req, ctx({ leases: 1 })).ok, false, 'one lease more than allowed');
  assert.deepEqual(q.admit(req, ctx(undefined)), { ok: true });
  const { owner: _o, ...anonymous } = req;
  assert.deepEqual(q.admit(anonymous, ctx({ vms: 0 })), { ok: true });
  assert.equal(compileLeasePolicies({ admission: 'quota-aware' }).admission.name, 'quota-aware');
  // A group's limit caps its members together, with what they hold outside leases: the first scope past its limit is named.
  const group = { scopes: () => [{ name: 'user ana', limits: { vms: 10 }, owners: ['ana'] }, { name: 'group devs', limits: { vms: 5 }, owners: ['ana', 'bob'], held: { ...NO_USAGE, vms: 1 } }], usage: (o: readonly string[]) => ({ ...NO_USAGE, vms: o.length }) };
  const g = q.admit(req, group);
  assert.match(!g.ok ? g.reason : '', /^quota exceeded: group devs may have 5 vms; 3 in use, 3 more requested/);
});

test('policies are chosen by name; unknown names and kinds are refused naming the field and the known names', () => {
  const p = compileLeasePolicies({ hostSelection: 'striping', backfilling: 'conservative' });
  assert.equal(p.hostSelection.name, 'striping');
  assert.equal(p.backfilling, 'conservative');
  assert.equal(p.suspension, 'all');
  assert.throws(() => compileLeasePolicies({ hostSelection: 'random', backfilling: 'eager' }), (e: unknown) =>
    e instanceof ValidationError && e.issues.length === 2 && e.field === 'policies.hostSelection' && /known: greedy, greedy-score, packing, striping/.test(e.message) && /policies\.backfilling: unknown policy "eager" \(known: off, aggressive, conservative\)/.test(e.message));
  assert.throws(() => compileLeasePolicies({ toString: 'x' } as never), (e: unknown) => e instanceof ValidationError && e.field === 'policies.toString');
});

test('rates: defaults overlaid and frozen; bad values refused naming the field', () => {
  const r = compileLeaseRates({ suspendMiBps: 50 });
  assert.equal(r.suspendMiBps, 50);
  assert.equal(r.resumeMiBps, DEFAULT_LEASE_RATES.resumeMiBps);
  assert.ok(Object.isFrozen(r));
  assert.throws(() => compileLeaseRates({ suspendMiBps: 0, bootS: -1, migrateDisk: 'yes', warp: 9 } as never), (e: unknown) =>
    e instanceof ValidationError && e.issues.map((i) => i.field).join() === 'rates.suspendMiBps,rates.bootS,rates.migrateDisk,rates.warp');
  // Where suspended state lives: local by default, shared when the datastore is; anything else named with the choices.
  assert.equal(compileLeaseRates().suspendTo, 'local');
  assert.equal(compileLeaseRates({ suspendTo: 'shared' }).suspendTo, 'shared');
  assert.throws(() => compileLeaseRates({ suspendTo: 'nfs' }), (e: unknown) => e instanceof ValidationError && e.field === 'rates.suspendTo' && /must be one of local, shared \(got "nfs"\)/.test(e.message));
  assert.throws(() => compileLeaseRates({ suspendTo: true }), (e: unknown) => e instanceof ValidationError && e.field === 'rates.suspendTo');
});

test('lease states: the table the controller will adopt — final states go nowhere, every state is reachable from pending', () => {
  assert.ok(canTransitionLease('active', 'suspending'));
  assert.ok(canTransitionLease('suspended', 'scheduled'));
  assert.ok(!canTransitionLease('done', 'active'));
  assert.ok(!canTransitionLease('pending', 'active'));
  for (const s of ['rejected', 'done', 'cancelled', 'failed'] as const) assert.ok(isFinalLeaseState(s));
  const seen = new Set<string>(['pending']);
  const todo = ['pending'] as (typeof LEASE_STATES)[number][];
  while (todo.length > 0) {
    for (const n of nextLeaseStates(todo.pop()!)) {
      if (!seen.has(n)) {
        seen.add(n);
        todo.push(n);
      }
    }
  }
  assert.deepEqual([...seen].sort(), [...LEASE_STATES].sort());
});
