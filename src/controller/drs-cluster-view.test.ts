import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Host } from '../store/repositories/hosts-repository.js';
import type { Vm } from '../store/repositories/vm-row.js';
import { drsClusterView } from './drs-cluster-view.js';
import { MetricsHistory } from './metrics-history.js';

const res = { cpus: 4, memoryMib: 8192, diskMib: 100_000 };
const host = (name: string, labels: Record<string, string> = {}, cluster = 'default'): Host => ({
  id: `id-${name}`, name, agentUrl: 'http://127.0.0.1:1', agentToken: 't', state: 'enabled', cpuModel: 'qemu64', cpuFlags: [],
  total: res, reserved: { cpus: 0, memoryMib: 0, diskMib: 0 }, free: res, usage: null, lastHeartbeatAt: null, labels,
  createdAt: '2026-12-05T00:00:00Z', cpuOvercommit: null, maintenance: null, standbySince: null, degraded: null, cluster,
});
const vm = (name: string, hostId: string, requirements?: string): Vm => ({
  id: `vm-${name}`, name, ownerId: 'u', templateId: null, state: 'running', stateReason: null, hostId,
  spec: { demand: { vcpus: 1, memoryMiB: 256, diskMiB: 1024, cpuModel: 'qemu64', ...(requirements !== undefined ? { requirements } : {}) } },
  operation: null, reserved: { cpus: 1, memoryMib: 256, diskMib: 1024 }, version: 1, createdAt: '2026-12-05T00:00:00Z', updatedAt: '2026-12-05T00:00:00Z',
});

test('a VM with requirements is allowed only the hosts they admit; one without, any host; a broken expression admits none', () => {
  const hosts = [host('h1', { rack: 'a' }), host('h2', { rack: 'b' }), host('h3', { rack: 'a' })];
  const view = drsClusterView({
    hosts,
    vms: [vm('free', 'id-h1'), vm('rack-a', 'id-h1', 'labels.rack == "a"'), vm('rack-a-too', 'id-h3', 'labels.rack == "a"'), vm('broken', 'id-h2', 'labels.rack ==')],
    history: new MetricsHistory(),
    lastMigrations: new Map(),
    cpuOvercommit: 4,
    now: Date.parse('2026-12-05T01:00:00Z'),
  });
  const allowed = new Map(view.vms.map((v) => [v.name, v.allowedHostIds === undefined ? undefined : [...v.allowedHostIds].sort()]));
  assert.equal(allowed.get('free'), undefined);
  assert.deepEqual(allowed.get('rack-a'), ['id-h1', 'id-h3']);
  assert.deepEqual(allowed.get('rack-a-too'), ['id-h1', 'id-h3']);
  assert.deepEqual(allowed.get('broken'), []);
});

test('with several clusters a VM is balanced only within its host\'s cluster (and its requirements)', () => {
  const hosts = [host('h1', { rack: 'a' }, 'c1'), host('h2', { rack: 'b' }, 'c1'), host('h3', { rack: 'a' }, 'c2')];
  const view = drsClusterView({
    hosts,
    vms: [vm('free', 'id-h1'), vm('rack-a', 'id-h1', 'labels.rack == "a"'), vm('over-there', 'id-h3')],
    history: new MetricsHistory(),
    lastMigrations: new Map(),
    cpuOvercommit: 4,
    now: Date.parse('2026-12-05T01:00:00Z'),
  });
  const allowed = new Map(view.vms.map((v) => [v.name, v.allowedHostIds === undefined ? undefined : [...v.allowedHostIds].sort()]));
  assert.deepEqual(allowed.get('free'), ['id-h1', 'id-h2']);
  assert.deepEqual(allowed.get('rack-a'), ['id-h1'], 'rack a in its own cluster: h3 is rack a too, but in c2');
  assert.deepEqual(allowed.get('over-there'), ['id-h3']);
});
