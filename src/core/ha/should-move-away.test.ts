import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MOVE_RETRY_MS, shouldMoveAway } from './should-move-away.js';

const vm = (over: Partial<{ id: string; state: string; operation: unknown }> = {}): { id: string; state: string; operation: unknown } => ({ id: 'v1', state: 'running', operation: null, ...over });

test('a running VM with nothing in flight is moved off a degraded host', () => {
  assert.equal(shouldMoveAway(vm(), [], undefined, 1_000), true);
});

test('not while an operation (a migration) runs on it, nor while its migration waits in the queue, nor when it is not running', () => {
  assert.equal(shouldMoveAway(vm({ operation: { action: 'migrate-live' } }), [], undefined, 1_000), false);
  assert.equal(shouldMoveAway(vm(), ['v1'], undefined, 1_000), false);
  assert.equal(shouldMoveAway(vm({ state: 'poweroff' }), [], undefined, 1_000), false);
});

test('a VM whose move was tried is tried again only after MOVE_RETRY_MS, not at every heartbeat', () => {
  assert.equal(shouldMoveAway(vm(), [], 1_000, 1_000 + MOVE_RETRY_MS - 1), false);
  assert.equal(shouldMoveAway(vm(), [], 1_000, 1_000 + MOVE_RETRY_MS), true);
});
