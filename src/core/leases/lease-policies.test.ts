import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { HOST_SELECTION_POLICIES } from './host-selection-policy.js';
import { compileLeasePolicies } from './lease-policies.js';
import { compileLeaseRates, DEFAULT_LEASE_RATES } from './lease-rates.js';
import { PREEMPTABILITY_POLICIES } from './preemptability-policy.js';
import { canTransitionLease, isFinalLeaseState, LEASE_STATES, nextLeaseStates } from './lease-state.js';

const cands = [
  { host: 0, free: 1 },
  { host: 1, free: 3 },
  { host: 2, free: 2 },
];

test('host selection: greedy fills in host order, packing the fullest hosts first, striping one VM per host in turn from the emptiest', () => {
  assert.deepEqual(HOST_SELECTION_POLICIES['greedy']!.allocate(cands, 3), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['packing']!.allocate(cands, 3), [{ host: 0, vms: 1 }, { host: 2, vms: 2 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['striping']!.allocate(cands, 4), [{ host: 0, vms: 1 }, { host: 1, vms: 2 }, { host: 2, vms: 1 }]);
  assert.deepEqual(HOST_SELECTION_POLICIES['striping']!.allocate(cands, 6), [{ host: 0, vms: 1 }, { host: 1, vms: 3 }, { host: 2, vms: 2 }]);
});

test('preemptability: an AR preempts preemptible best effort (youngest first, or least memory first), nothing else', () => {
  const base = { duration: 10, vms: 1, shape: { cpus: 1, memoryMiB: 1024 } };
  const ar = { ...base, id: 'ar', kind: 'ar', submit: 0, start: 100, preemptible: false } as const;
  const old = { ...base, id: 'b1', kind: 'be', submit: 5, preemptible: true } as const;
  const young = { ...base, id: 'b2', kind: 'be', submit: 9, vms: 4, preemptible: true } as const;
  const p = PREEMPTABILITY_POLICIES['ar-preempts-be']!;
  assert.ok(p.score(ar, young)! > p.score(ar, old)!);
  assert.equal(p.score(old, young), null);
  assert.equal(p.score(ar, { ...old, preemptible: false }), null);
  assert.equal(p.score(ar, ar), null);
  const m = PREEMPTABILITY_POLICIES['ar-preempts-be-least-memory']!;
  assert.ok(m.score(ar, old)! > m.score(ar, young)!);
  assert.equal(PREEMPTABILITY_POLICIES['none']!.score(ar, old), null);
});

test('policies are chosen by name; unknown names and kinds are refused naming the field and the known names', () => {
  const p = compileLeasePolicies({ hostSelection: 'striping', backfilling: 'conservative' });
  assert.equal(p.hostSelection.name, 'striping');
  assert.equal(p.backfilling, 'conservative');
  assert.equal(p.suspension, 'all');
  assert.throws(() => compileLeasePolicies({ hostSelection: 'random', backfilling: 'eager' }), (e: unknown) =>
    e instanceof ValidationError && e.issues.length === 2 && e.field === 'policies.hostSelection' && /known: greedy, packing, striping/.test(e.message) && /policies\.backfilling: unknown policy "eager" \(known: off, aggressive, conservative\)/.test(e.message));
  assert.throws(() => compileLeasePolicies({ toString: 'x' } as never), (e: unknown) => e instanceof ValidationError && e.field === 'policies.toString');
});

test('rates: defaults overlaid and frozen; bad values refused naming the field', () => {
  const r = compileLeaseRates({ suspendMiBps: 50 });
  assert.equal(r.suspendMiBps, 50);
  assert.equal(r.resumeMiBps, DEFAULT_LEASE_RATES.resumeMiBps);
  assert.ok(Object.isFrozen(r));
  assert.throws(() => compileLeaseRates({ suspendMiBps: 0, bootS: -1, migrateDisk: 'yes', warp: 9 } as never), (e: unknown) =>
    e instanceof ValidationError && e.issues.map((i) => i.field).join() === 'rates.suspendMiBps,rates.bootS,rates.migrateDisk,rates.warp');
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
