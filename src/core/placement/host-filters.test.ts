import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HOST_FILTERS,
  capacityFilter,
  clusterFilter,
  cpuModelFilter,
  datastoreFilter,
  enabledFilter,
  filterHost,
  hostPasses,
  networkFilter,
  requirementsFilter,
  type FilterContext,
} from './host-filters.js';
import { HOST_STATES, type HostView } from './host-view.js';
import { compileRequirements } from './requirements-expression.js';
import type { VmDemand } from './vm-demand.js';
import { makeHost } from './host-view.fixture.js';

const demand: VmDemand = { vcpus: 1, memoryMiB: 512, diskMiB: 1024, networks: ['default'] };
const ctx: FilterContext = { cpuOvercommit: 1 };

test('enabled: only enabled hosts pass; the reason is the state', () => {
  const reasons = Object.fromEntries(HOST_STATES.map((state) => [state, enabledFilter(makeHost('h', { state }), demand, ctx)]));
  assert.deepEqual(reasons, { init: 'not monitored yet', enabled: undefined, disabled: 'disabled', error: 'in error', offline: 'offline' });
  assert.equal(enabledFilter(makeHost('h', { state: 'bogus' as HostView['state'] }), demand, ctx), 'bogus');
});

test('cpu model: no model asked passes; the model must be supported', () => {
  assert.equal(cpuModelFilter(makeHost('h'), demand, ctx), undefined);
  assert.equal(cpuModelFilter(makeHost('h'), { ...demand, cpuModel: 'max' }, ctx), undefined);
  assert.equal(cpuModelFilter(makeHost('h'), { ...demand, cpuModel: 'Skylake-Client' }, ctx), 'CPU model Skylake-Client not supported (has qemu64, max)');
  assert.equal(cpuModelFilter(makeHost('h', { supportedCpuModels: [] }), { ...demand, cpuModel: 'qemu64' }, ctx), 'CPU model qemu64 not supported (has none)');
  // The host's own model is not enough: what counts is what QEMU there can offer.
  assert.notEqual(cpuModelFilter(makeHost('h', { cpuModel: 'EPYC', supportedCpuModels: ['qemu64'] }), { ...demand, cpuModel: 'EPYC' }, ctx), undefined);
});

test('network: every network of the VM must be on the host', () => {
  const h = makeHost('h', { networks: ['default', 'lab'] });
  assert.equal(networkFilter(h, { ...demand, networks: [] }, ctx), undefined);
  assert.equal(networkFilter(h, { ...demand, networks: ['lab', 'default', 'lab'] }, ctx), undefined);
  assert.equal(networkFilter(h, { ...demand, networks: ['default', 'storage'] }, ctx), 'network storage not reachable');
  assert.equal(networkFilter(h, { ...demand, networks: ['b', 'a', 'b'] }, ctx), 'networks b, a not reachable');
});

test('datastore: the VM’s datastore must be reachable', () => {
  const h = makeHost('h', { datastores: ['local', 'shared'] });
  assert.equal(datastoreFilter(h, demand, ctx), undefined);
  assert.equal(datastoreFilter(h, { ...demand, datastore: 'shared' }, ctx), undefined);
  assert.equal(datastoreFilter(h, { ...demand, datastore: 'nfs' }, ctx), 'datastore nfs not reachable');
});

test('capacity: free CPU with overcommit, free memory, free disk', () => {
  const h = makeHost('h', { reservedCpus: 4, reservedMemoryMiB: 3840, reservedDiskMiB: 102400 - 512 });
  assert.equal(capacityFilter(h, demand, ctx), 'needs 1 vCPU, 0 free');
  assert.equal(capacityFilter(h, demand, { cpuOvercommit: 2 }), 'needs 512 MiB memory, 256 free');
  assert.equal(capacityFilter(h, { ...demand, memoryMiB: 256 }, { cpuOvercommit: 2 }), 'needs 1024 MiB disk, 512 free');
  assert.equal(capacityFilter(h, { ...demand, memoryMiB: 256, diskMiB: 512 }, { cpuOvercommit: 2 }), undefined);
});

test('requirements: absent passes; compiled predicate decides', () => {
  const h = makeHost('h', { labels: { zone: 'a' } });
  assert.equal(requirementsFilter(h, demand, ctx), undefined);
  const req = compileRequirements('labels.zone == "a"');
  assert.equal(requirementsFilter(h, demand, { ...ctx, requirements: req }), undefined);
  assert.equal(requirementsFilter(makeHost('h2'), demand, { ...ctx, requirements: req }), 'requirements not met');
  // The context's overcommit reaches the expression.
  const cpu = compileRequirements('free_cpu >= 8');
  assert.equal(requirementsFilter(h, demand, { cpuOvercommit: 1, requirements: cpu }), 'requirements not met');
  assert.equal(requirementsFilter(h, demand, { cpuOvercommit: 2, requirements: cpu }), undefined);
});

test('standby: a host consolidation emptied is skipped, with its reason; hostPasses agrees', async () => {
  const { hostPasses } = await import('./host-filters.js');
  const h = makeHost('h', { standby: true });
  assert.equal(filterHost(h, demand, ctx), 'on standby (consolidation emptied it)');
  assert.equal(hostPasses(h, demand, ctx), false);
  assert.equal(hostPasses(makeHost('h', { standby: false }), demand, ctx), true);
});

test('degraded: a host whose health check fails is skipped with the check\'s reason; hostPasses agrees; healthy again, it passes', async () => {
  const { hostPasses } = await import('./host-filters.js');
  const h = makeHost('h', { degraded: 'disk smart errors' });
  assert.equal(filterHost(h, demand, ctx), 'degraded: disk smart errors');
  assert.equal(hostPasses(h, demand, ctx), false);
  assert.equal(filterHost(makeHost('h', { degraded: undefined }), demand, ctx), undefined);
  assert.equal(hostPasses(makeHost('h', { degraded: undefined }), demand, ctx), true);
});

test('avoided: a host the VM\'s create could not reach is not chosen for it again; hostPasses agrees; other hosts and VMs are not affected', async () => {
  const { hostPasses } = await import('./host-filters.js');
  const h = makeHost('h');
  const avoiding: VmDemand = { ...demand, avoidHosts: ['other', h.id] };
  assert.equal(filterHost(h, avoiding, ctx), 'could not be reached when this VM was placed there; it is placed elsewhere');
  assert.equal(hostPasses(h, avoiding, ctx), false);
  assert.equal(filterHost(makeHost('g'), avoiding, ctx), undefined, 'another host passes');
  assert.equal(hostPasses(makeHost('g'), avoiding, ctx), true);
  assert.equal(hostPasses(h, demand, ctx), true, 'another VM may still go there');
  // A disabled host says disabled: the state comes first.
  assert.equal(filterHost(makeHost('h', { state: 'disabled' }), avoiding, ctx), 'disabled');
});

test('filterHost: the first failing filter names the reason; static before dynamic', () => {
  assert.deepEqual(
    HOST_FILTERS.map((f) => f.name),
    ['enabled', 'maintenance', 'standby', 'degraded', 'avoided', 'cluster', 'cpu-model', 'network', 'datastore', 'capacity', 'requirements'],
  );
  const full = { reservedMemoryMiB: 4096 };
  assert.equal(filterHost(makeHost('h'), demand, ctx), undefined);
  assert.equal(filterHost(makeHost('h', { ...full, state: 'disabled', networks: [] }), demand, ctx), 'disabled');
  assert.equal(filterHost(makeHost('h', { ...full, networks: [] }), demand, ctx), 'network default not reachable');
  assert.equal(filterHost(makeHost('h', { ...full }), demand, ctx), 'needs 512 MiB memory, 0 free');
  assert.equal(filterHost(makeHost('h'), demand, { ...ctx, requirements: compileRequirements('false') }), 'requirements not met');
});

test('hostPasses agrees with filterHost on every host: it is filterHost without the reason', async () => {
  const { hostPasses } = await import('./host-filters.js');
  const { random, randomDemand, randomHost } = await import('./placement-random.fixture.js');
  const r = random(7);
  for (let i = 0; i < 5_000; i++) {
    const d = randomDemand(r);
    const context: FilterContext = { cpuOvercommit: r() < 0.5 ? 1 : 3, ...(d.requirements !== undefined ? { requirements: compileRequirements(d.requirements) } : {}) };
    const h = randomHost(r, `h${i}`);
    assert.equal(hostPasses(h, d, context), filterHost(h, d, context) === undefined, `case ${i}: ${JSON.stringify({ h, d })}`);
  }
});

test('a host in maintenance takes no new VMs: filterHost names it, hostPasses agrees', async () => {
  const { hostPasses } = await import('./host-filters.js');
  const h = makeHost('h', { maintenance: true });
  assert.equal(filterHost(h, demand, ctx), 'in maintenance');
  assert.equal(hostPasses(h, demand, ctx), false);
  assert.equal(hostPasses(makeHost('h', { maintenance: false }), demand, ctx), true);
  // A disabled host in maintenance says disabled: the state comes first.
  assert.equal(filterHost(makeHost('h', { maintenance: true, state: 'disabled' }), demand, ctx), 'disabled');
});

test('cluster: a VM that asks for a cluster, or uses a network or datastore bound to one, fits only hosts in it', () => {
  const inA = makeHost('a1', { cluster: 'a' });
  const inB = makeHost('b1', { cluster: 'b' });
  const before = makeHost('old');
  // Nothing asked: every cluster, including hosts that know none (the default cluster).
  for (const h of [inA, inB, before]) {
    assert.equal(clusterFilter(h, demand, ctx), undefined);
    assert.equal(hostPasses(h, demand, ctx), true);
  }
  const asksA: VmDemand = { ...demand, cluster: 'a' };
  assert.equal(clusterFilter(inA, asksA, ctx), undefined);
  assert.equal(clusterFilter(inB, asksA, ctx), 'in cluster b: the VM asks for cluster a');
  assert.equal(clusterFilter(before, asksA, ctx), 'in cluster default: the VM asks for cluster a');
  assert.equal(hostPasses(inB, asksA, ctx), false);
  assert.equal(clusterFilter(before, { ...demand, cluster: 'default' }, ctx), undefined);
  const bound: VmDemand = { ...demand, bindings: [{ kind: 'network', name: 'web', cluster: 'a' }, { kind: 'datastore', name: 'nfs', cluster: 'a' }] };
  assert.equal(clusterFilter(inA, bound, ctx), undefined);
  assert.equal(hostPasses(inA, bound, ctx), true);
  assert.equal(clusterFilter(inB, bound, ctx), 'in cluster b: network web is bound to cluster a; datastore nfs is bound to cluster a');
  assert.equal(hostPasses(inB, bound, ctx), false);
  // The cluster is judged before capacity: waiting cannot help a host in the wrong cluster.
  assert.equal(filterHost(makeHost('b2', { cluster: 'b', reservedMemoryMiB: 4096 }), asksA, ctx), 'in cluster b: the VM asks for cluster a');
});

test('requirements: cluster names the host\'s cluster (default for a host that knows none)', () => {
  const inA = compileRequirements('cluster == "a"');
  assert.equal(inA(makeHost('a1', { cluster: 'a' })), true);
  assert.equal(inA(makeHost('b1', { cluster: 'b' })), false);
  assert.equal(compileRequirements('cluster == "default"')(makeHost('old')), true);
  assert.equal(requirementsFilter(makeHost('b1', { cluster: 'b' }), demand, { ...ctx, requirements: inA }), 'requirements not met');
});
