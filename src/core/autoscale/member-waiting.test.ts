import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memberWaiting } from './member-waiting.js';

test('a pending member with placement\'s reason gets a history line naming it and the reason', () => {
  assert.equal(memberWaiting({ vmName: 'web-3', vmState: 'pending', stateReason: 'no host fits: h1: cpu 2 > 0 free' }), 'web-3 waits for a host: no host fits: h1: cpu 2 > 0 free');
});

test('no line for a member that runs, boots, or waits with no reason yet', () => {
  assert.equal(memberWaiting({ vmName: 'web-1', vmState: 'running', stateReason: null }), undefined);
  assert.equal(memberWaiting({ vmName: 'web-1', vmState: 'prolog', stateReason: 'no host fits: stale' }), undefined);
  assert.equal(memberWaiting({ vmName: 'web-2', vmState: 'pending', stateReason: null }), undefined);
  assert.equal(memberWaiting({ vmName: 'web-2', vmState: 'pending', stateReason: '' }), undefined);
});
