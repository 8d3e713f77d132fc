import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaintenanceVm } from '../store/repositories/host-maintenance.js';
import { evacuationBlocked } from './host-maintenance.js';

const vm = (status: MaintenanceVm['status']): MaintenanceVm => ({ name: status, action: 'live', status });

test('an evacuation is blocked only when nothing is on its way and a VM could not move', () => {
  assert.equal(evacuationBlocked({ a: vm('moved'), b: vm('blocked') }), true);
  assert.equal(evacuationBlocked({ a: vm('left'), b: vm('failed') }), true);
  assert.equal(evacuationBlocked({ a: vm('moving'), b: vm('blocked') }), false, 'a VM still on its way: evacuating');
  assert.equal(evacuationBlocked({ a: vm('queued'), b: vm('blocked') }), false);
  assert.equal(evacuationBlocked({ a: vm('moved'), b: vm('left') }), false, 'all settled: maintenance, not blocked');
  assert.equal(evacuationBlocked({}), false);
});
