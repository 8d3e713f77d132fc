import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { placeVm, type PlacementResult } from './place-vm.js';
import { compilePlacementPolicy } from './placement-policy.js';
import type { HostView } from './host-view.js';
import type { VmDemand } from './vm-demand.js';
import { makeHost } from './host-view.fixture.js';

const demand: VmDemand = { vcpus: 1, memoryMiB: 512, diskMiB: 1024, networks: ['default'] };
const packing = compilePlacementPolicy();
const striping = compilePlacementPolicy({ ranker: 'striping' });

function placedOn(r: PlacementResult): string {
  assert.notEqual(r.hostId, undefined, 'summary' in r ? r.summary : '');
  return r.hostId ?? '';
}

test('the summary of the brief', () => {
  const hosts = [makeHost('h2', { state: 'disabled' }), makeHost('h1', { reservedMemoryMiB: 4096 - 256 })];
  const r = placeVm(demand, hosts, packing);
  assert.equal(r.hostId, undefined);
  assert.ok('summary' in r);
  assert.equal(r.summary, 'no host fits: h1: needs 512 MiB memory, 256 free; h2: disabled');
  assert.deepEqual(r.reasons, { h1: 'needs 512 MiB memory, 256 free', h2: 'disabled' });
});

test('the summary names hosts by name (ids are UUIDs in a real store); the reasons stay keyed by id', () => {
  const hosts = [makeHost('0b9e6c1a-host-id', { name: 'rack2-b', state: 'disabled' }), makeHost('7f3d2e4b-host-id', { name: 'rack1-a', reservedMemoryMiB: 4096 - 256 })];
  const r = placeVm(demand, hosts, packing);
  assert.ok('summary' in r);
  assert.equal(r.summary, 'no host fits: rack2-b: disabled; rack1-a: needs 512 MiB memory, 256 free');
  assert.deepEqual(r.reasons, { '0b9e6c1a-host-id': 'disabled', '7f3d2e4b-host-id': 'needs 512 MiB memory, 256 free' });
});

test('summary texts for every filter, sorted by host id', () => {
  const hosts = [
    makeHost('h6', { labels: { zone: 'b' } }),
    makeHost('h5', { reservedCpus: 4 }),
    makeHost('h4', { datastores: [] }),
    makeHost('h3', { networks: [] }),
    makeHost('h2', { supportedCpuModels: ['qemu64'] }),
    makeHost('h1', { state: 'offline' }),
  ];
  const r = placeVm({ ...demand, cpuModel: 'max', datastore: 'local', requirements: 'labels.zone == "a"' }, hosts, packing);
  assert.ok(r.hostId === undefined);
  assert.equal(
    r.summary,
    'no host fits: h1: offline; h2: CPU model max not supported (has qemu64); h3: network default not reachable; ' +
      'h4: datastore local not reachable; h5: needs 1 vCPU, 0 free; h6: requirements not met',
  );
  assert.deepEqual(Object.keys(r.reasons), ['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
});

test('no hosts at all', () => {
  const r = placeVm(demand, [], packing);
  assert.deepEqual(r, { hostId: undefined, reasons: {}, summary: 'no host fits: no hosts' });
});

test('a fit: the best host of the ranking, with the others’ reasons', () => {
  const hosts = [makeHost('h1', { reservedMemoryMiB: 2048 }), makeHost('h2'), makeHost('h3', { state: 'error' })];
  const r = placeVm(demand, hosts, packing);
  assert.equal(placedOn(r), 'h1');
  assert.ok('ranking' in r);
  assert.deepEqual(r.ranking, [
    { hostId: 'h1', score: 0.5 },
    { hostId: 'h2', score: 0 },
  ]);
  assert.deepEqual(r.reasons, { h3: 'in error' });
  assert.equal(placedOn(placeVm(demand, hosts, striping)), 'h2');
});

test('load-aware and custom policies', () => {
  const hosts = [makeHost('h1', { load: 0.8 }), makeHost('h2', { load: 0.3, reservedMemoryMiB: 3072 }), makeHost('h3', { load: 0.5 })];
  assert.equal(placedOn(placeVm(demand, hosts, compilePlacementPolicy({ ranker: 'load-aware' }))), 'h2');
  const custom = compilePlacementPolicy({ ranker: 'custom', rankExpression: 'free_memory_mb - load * 1000' });
  // h1: 4096-800, h2: 1024-300, h3: 4096-500
  assert.equal(placedOn(placeVm(demand, hosts, custom)), 'h3');
  const byLabel = compilePlacementPolicy({ ranker: 'custom', rankExpression: '0 - total_cpus' });
  assert.equal(placedOn(placeVm(demand, [makeHost('b', { totalCpus: 8 }), makeHost('a', { totalCpus: 8 }), makeHost('c', { totalCpus: 16 })], byLabel)), 'a');
});

test('overcommit lets a VM onto a host whose CPUs are all reserved', () => {
  const hosts = [makeHost('h1', { reservedCpus: 4 })];
  assert.equal(placeVm(demand, hosts, packing).hostId, undefined);
  assert.equal(placeVm(demand, hosts, compilePlacementPolicy({ cpuOvercommit: 2 })).hostId, 'h1');
  // …and free_cpu in requirements sees the same capacity.
  const req = { ...demand, requirements: 'free_cpu >= 4' };
  assert.equal(placeVm(req, hosts, compilePlacementPolicy({ cpuOvercommit: 2 })).hostId, 'h1');
});

test('requirements filter hosts', () => {
  const hosts = [makeHost('h1', { labels: { zone: 'a' } }), makeHost('h2', { labels: { zone: 'b' }, reservedMemoryMiB: 2048 })];
  assert.equal(placeVm(demand, hosts, packing).hostId, 'h2');
  assert.equal(placeVm({ ...demand, requirements: 'labels.zone == "a"' }, hosts, packing).hostId, 'h1');
  assert.equal(placeVm({ ...demand, requirements: 'cpu_model == "qemu64" && free_memory_mb > 2048' }, hosts, packing).hostId, 'h1');
});

test('an invalid requirements expression throws ValidationError on field requirements', () => {
  assert.throws(() => placeVm({ ...demand, requirements: 'foo > 1' }, [makeHost('h1')], packing), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    assert.equal(err.field, 'requirements');
    return true;
  });
});

test('deterministic: every order of the same hosts gives the same result', () => {
  const hosts: HostView[] = [
    makeHost('d', { reservedMemoryMiB: 1024 }),
    makeHost('b', { reservedMemoryMiB: 1024 }),
    makeHost('a', { state: 'disabled' }),
    makeHost('c', { reservedMemoryMiB: 1024 }),
    makeHost('e', { reservedMemoryMiB: 4000 }),
  ];
  const permutations = (list: HostView[]): HostView[][] =>
    list.length <= 1 ? [list] : list.flatMap((h, i) => permutations([...list.slice(0, i), ...list.slice(i + 1)]).map((p) => [h, ...p]));
  for (const policy of [packing, striping, compilePlacementPolicy({ ranker: 'load-aware' })]) {
    const expected = JSON.stringify(placeVm(demand, hosts, policy));
    for (const p of permutations(hosts)) assert.equal(JSON.stringify(placeVm(demand, p, policy)), expected);
  }
  assert.equal(placeVm(demand, hosts, packing).hostId, 'b');
  assert.equal(placeVm(demand, hosts, striping).hostId, 'b');
  assert.equal(placeVm({ ...demand, memoryMiB: 4096 }, hosts, packing).hostId, undefined);
});

test('the input is not changed and the result is frozen', () => {
  const hosts = Object.freeze([makeHost('h2'), makeHost('h1')]);
  const r = placeVm(demand, hosts, packing);
  assert.deepEqual(hosts.map((h) => h.id), ['h2', 'h1']);
  assert.ok(Object.isFrozen(r) && Object.isFrozen(r.reasons));
});

test('a host id that is also an Object.prototype name stays a plain key', () => {
  const r = placeVm(demand, [makeHost('__proto__', { state: 'disabled' }), makeHost('constructor', { state: 'offline' })], packing);
  assert.ok(r.hostId === undefined);
  assert.deepEqual(Object.keys(r.reasons), ['__proto__', 'constructor']);
  assert.equal(r.summary, 'no host fits: __proto__: disabled; constructor: offline');
});

test("placement fills a 2-core host to its own overcommit, then says why it is full", () => {
  const tiny: VmDemand = { vcpus: 1, memoryMiB: 128, diskMiB: 0, networks: [] };
  let host = makeHost('local', { totalCpus: 2, cpuOvercommit: 4 });
  for (let i = 0; i < 8; i++) {
    assert.equal(placeVm(tiny, [host], packing).hostId, 'local', `VM ${i + 1} of 8`);
    host = { ...host, reservedCpus: host.reservedCpus + 1 };
  }
  const ninth = placeVm(tiny, [host], packing);
  assert.ok('summary' in ninth);
  assert.equal(ninth.summary, 'no host fits: local: needs 1 vCPU, 0 free');
  // free_cpu in requirements and the packing rank see the host's own overcommit too.
  const half = { ...host, reservedCpus: 4 };
  assert.equal(placeVm({ ...tiny, requirements: 'free_cpu >= 4' }, [half], packing).hostId, 'local');
  const ranked = placeVm(tiny, [half, makeHost('big', { totalCpus: 16, reservedCpus: 12 })], packing);
  assert.ok(ranked.hostId !== undefined);
  assert.deepEqual(ranked.ranking.map((r) => r.score), [0.75, 0.5]);
});

test('the one-pass decision is the full ranking\'s first host, on random fleets, for every ranker', async () => {
  const { random, randomDemand, randomHost } = await import('./placement-random.fixture.js');
  const r = random(11);
  const policies = [packing, striping, compilePlacementPolicy({ ranker: 'load-aware' }), compilePlacementPolicy({ cpuOvercommit: 2 }), compilePlacementPolicy({ ranker: 'custom', rankExpression: 'free_cpu' })];
  let placed = 0;
  for (let i = 0; i < 1_000; i++) {
    const hosts = Array.from({ length: 1 + Math.floor(r() * 12) }, (_, j) => randomHost(r, `h${(j * 7) % 13}-${j}`));
    const d = randomDemand(r);
    for (const p of policies) {
      const res = placeVm(d, hosts, p);
      const again = placeVm(d, [...hosts].reverse(), p);
      assert.equal(again.hostId, res.hostId, 'the order of the hosts does not matter');
      if (res.hostId === undefined) continue;
      placed++;
      assert.equal(res.ranking[0]?.hostId, res.hostId, `case ${i}`);
      assert.equal(res.ranking.length + Object.keys(res.reasons).length, hosts.length, 'every host is ranked or has its reason');
    }
  }
  assert.ok(placed > 1_000, `enough placements to mean something (${placed})`);
});
