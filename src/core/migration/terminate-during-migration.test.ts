import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VM_STATES } from '../vm-state.js';
import { terminateDuringMigration, type TerminateDuringMigrationFacts } from './terminate-during-migration.js';

const start = Date.parse('2026-01-01T00:00:00Z');
const live = { id: 'm1', kind: 'live' as const, stage: 'aborting', startedAtMs: start, timeoutS: 60 };
const stuck: TerminateDuringMigrationFacts = { admin: true, vmState: 'migrating', migration: live, nowMs: start + 61_000 };

test('an admin may end a VM whose live migration ran past its own timeout', () => {
  const v = terminateDuringMigration(stuck);
  assert.equal(v.allowed, true);
  assert.match(v.reason, /m1.*aborting.*60 s/);
});

test('an admin may end a migrating VM with no unfinished migration recorded', () => {
  assert.equal(terminateDuringMigration({ ...stuck, migration: undefined }).allowed, true);
});

test('within its timeout the migration still decides, even for an admin', () => {
  const v = terminateDuringMigration({ ...stuck, nowMs: start + 60_000 });
  assert.equal(v.allowed, false);
  assert.match(v.reason, /within its timeout until 2026-01-01T00:01:00.000Z; cancel it/);
});

test('a user never may, however stuck', () => {
  const v = terminateDuringMigration({ ...stuck, admin: false, nowMs: start + 86_400_000 });
  assert.equal(v.allowed, false);
  assert.match(v.reason, /only an admin/);
  assert.equal(terminateDuringMigration({ ...stuck, admin: false, migration: undefined }).allowed, false);
});

test('a cold migration is left to end by itself', () => {
  assert.equal(terminateDuringMigration({ ...stuck, migration: { ...live, kind: 'cold' } }).allowed, false);
});

test('the rule only speaks of migrating VMs', () => {
  for (const vmState of VM_STATES.filter((s) => s !== 'migrating')) {
    const v = terminateDuringMigration({ ...stuck, vmState });
    assert.equal(v.allowed, false, vmState);
    assert.match(v.reason, /not migrating/);
  }
});
