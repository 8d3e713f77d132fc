import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHost } from '../placement/host-view.fixture.js';
import { compilePlacementPolicy } from '../placement/placement-policy.js';
import { planHaRestarts, type HaVmFacts } from './plan-ha-restarts.js';

const policy = compilePlacementPolicy();
const shared = { datastores: ['local', 'shared'] };
const vm = (id: string, o: Partial<HaVmFacts> = {}): HaVmFacts => ({
  id, ha: true, datastore: 'shared', state: 'unknown', decided: false,
  demand: { vcpus: 1, memoryMiB: 1024, diskMiB: 0, networks: [], datastore: 'shared' }, ...o,
});

test('HA VMs on the shared datastore restart on another host, never on the fenced one', () => {
  const hosts = [makeHost('h1', shared), makeHost('h2', shared)];
  assert.deepEqual(planHaRestarts('h1', [vm('a')], hosts, policy).map((d) => [d.vmId, d.action, 'targetHostId' in d ? d.targetHostId : '']), [['a', 'restart', 'h2']]);
});

test('non-HA and local-disk VMs are lost; powered-off VMs and VMs decided already are left out', () => {
  const hosts = [makeHost('h1', shared), makeHost('h2', shared)];
  const got = planHaRestarts('h1', [
    vm('a', { ha: false }), vm('b', { datastore: 'local' }), vm('c', { state: 'poweroff' }), vm('d', { decided: true }),
  ], hosts, policy);
  assert.deepEqual(got.map((d) => [d.vmId, d.action]), [['a', 'lost'], ['b', 'lost']]);
  assert.match(got[0]!.reason, /HA is off/);
  assert.match(got[1]!.reason, /local datastore/);
});

test('each restart takes its room: the next VM sees it gone, and a VM that fits nowhere is lost with the reason', () => {
  const hosts = [makeHost('h1', shared), makeHost('h2', { ...shared, totalMemoryMiB: 2048 }), makeHost('h3', { ...shared, totalMemoryMiB: 1024 })];
  const got = planHaRestarts('h1', [vm('a'), vm('b'), vm('c'), vm('d')], hosts, policy);
  const restarts = got.filter((d) => d.action === 'restart');
  assert.equal(restarts.length, 3);
  const perHost = new Map<string, number>();
  for (const d of restarts) if (d.action === 'restart') perHost.set(d.targetHostId, (perHost.get(d.targetHostId) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(perHost), { h2: 2, h3: 1 });
  const lost = got.find((d) => d.vmId === 'd');
  assert.equal(lost?.action, 'lost');
  assert.match(lost.reason, /no other host can run it/);
});

test('hosts without the shared datastore are not targets', () => {
  const got = planHaRestarts('h1', [vm('a')], [makeHost('h1', shared), makeHost('h2')], policy);
  assert.equal(got[0]?.action, 'lost');
});
