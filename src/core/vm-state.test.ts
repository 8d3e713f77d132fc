import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAILED_PHASES, TRANSITIONAL_STATES, VM_PHASES, VM_STATES, isFailedPhase, isTransitional, isVmState } from './vm-state.js';

test('the states of the brief are all there', () => {
  for (const s of ['pending', 'prolog', 'boot', 'running', 'migrating', 'poweroff', 'suspended', 'stopped', 'terminated', 'failed', 'unknown']) {
    assert.ok(isVmState(s), s);
  }
  assert.equal(new Set(VM_STATES).size, VM_STATES.length);
});

test('guards reject what is not a state or a phase', () => {
  assert.ok(!isVmState('Running'));
  assert.ok(!isVmState('toString'));
  assert.ok(!isVmState(3));
  assert.ok(isFailedPhase('epilog'));
  assert.ok(isFailedPhase('run'));
  assert.ok(isFailedPhase('lost'));
  assert.ok(!isFailedPhase('running'));
  assert.equal(FAILED_PHASES.length, VM_PHASES.length + 2);
});

test('transitional states', () => {
  assert.deepEqual([...TRANSITIONAL_STATES], ['prolog', 'boot', 'migrating', 'shutdown', 'saving', 'epilog']);
  assert.ok(isTransitional('saving'));
  assert.ok(!isTransitional('pending'));
  assert.ok(!isTransitional('running'));
});
