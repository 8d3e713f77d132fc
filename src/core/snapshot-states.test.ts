import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VM_STATES } from './vm-state.js';
import { SNAPSHOT_STATES, snapshotStateError, type SnapshotAction } from './snapshot-states.js';

test('create, list and delete from running, poweroff and suspended; revert from poweroff only', () => {
  const expected: Record<SnapshotAction, string[]> = {
    create: ['running', 'poweroff', 'suspended'],
    list: ['running', 'poweroff', 'suspended'],
    delete: ['running', 'poweroff', 'suspended'],
    revert: ['poweroff'],
  };
  for (const action of Object.keys(expected) as SnapshotAction[]) {
    assert.deepEqual([...SNAPSHOT_STATES[action]], expected[action]);
    for (const state of VM_STATES) {
      const err = snapshotStateError(action, state);
      assert.equal(err === undefined, expected[action].includes(state), `${action} from ${state}`);
      if (err) {
        assert.equal(err.code, 'INVALID_STATE');
        assert.equal(err.state, state);
        assert.match(err.message, new RegExp(`in state ${state}\\b`));
      }
    }
  }
});

test('the refusals that have a way out say it', () => {
  assert.match(snapshotStateError('revert', 'suspended')?.message ?? '', /saved memory would not match the reverted disk/);
  assert.match(snapshotStateError('revert', 'running')?.message ?? '', /power it off first/);
  for (const action of ['create', 'list', 'revert', 'delete'] as const) {
    assert.match(snapshotStateError(action, 'stopped')?.message ?? '', /available again after `resume`/);
  }
  assert.match(snapshotStateError('create', 'migrating')?.message ?? '', /cannot take a snapshot of VM in state migrating \(allowed from: running, poweroff, suspended\)$/);
});
