import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePlacementPolicy } from '../core/placement/placement-policy.js';
import type { Host } from '../store/repositories/hosts-repository.js';
import { deployHostRefusal } from './deploy-host.js';

const res = { cpus: 4, memoryMib: 8192, diskMib: 100_000 };
const host = (extra: Partial<Host> = {}): Host => ({
  id: 'id-h1', name: 'h1', agentUrl: 'http://127.0.0.1:1', agentToken: 't', state: 'enabled', cpuModel: 'qemu64', cpuFlags: [],
  total: res, reserved: { cpus: 0, memoryMib: 0, diskMib: 0 }, free: res, usage: null, lastHeartbeatAt: null, labels: { rack: 'a' },
  createdAt: '2026-12-05T00:00:00Z', cpuOvercommit: null, maintenance: null, standbySince: null, degraded: null, cluster: 'default', ...extra,
});
const demand = { vcpus: 1, memoryMiB: 256, diskMiB: 1024, networks: [] };
const policy = compilePlacementPolicy();

test('a chosen host passes every placement filter or is refused with why; standby alone does not refuse it (it is woken)', () => {
  assert.equal(deployHostRefusal(host(), demand, policy), undefined);
  assert.equal(deployHostRefusal(host({ standbySince: '2026-12-05T00:10:00Z' }), demand, policy), undefined);
  assert.match(deployHostRefusal(host({ state: 'disabled' }), demand, policy) ?? '', /disabled/);
  assert.match(deployHostRefusal(host({ degraded: 'fan failure' }), demand, policy) ?? '', /fan failure|degraded/);
  assert.match(deployHostRefusal(host(), { ...demand, memoryMiB: 16_384 }, policy) ?? '', /memory/);
  assert.equal(deployHostRefusal(host(), { ...demand, requirements: 'labels.rack == "b"' }, policy), 'it does not meet the VM\'s requirements (labels.rack == "b")');
});
