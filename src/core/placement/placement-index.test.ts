import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { PlacementError } from './placement-error.js';
import { PlacementIndex } from './placement-index.js';
import { placeVm } from './place-vm.js';
import { compilePlacementPolicy, type PlacementPolicy } from './placement-policy.js';
import { makeHost } from './host-view.fixture.js';
import { random, randomDemand, randomHost } from './placement-random.fixture.js';
import type { HostView } from './host-view.js';

const POLICIES: readonly [string, PlacementPolicy][] = [
  ['packing', compilePlacementPolicy()],
  ['striping', compilePlacementPolicy({ ranker: 'striping', cpuOvercommit: 2 })],
  ['load-aware', compilePlacementPolicy({ ranker: 'load-aware' })],
  ['custom', compilePlacementPolicy({ ranker: 'custom', rankExpression: 'free_memory_mb / (free_cpu + 1)' })],
];

test('the indexed placement decides as placeVm, on random fleets changing under it, for every ranker', () => {
  for (const [name, policy] of POLICIES) {
    const r = random(name.length * 7919);
    for (let fleet = 0; fleet < 40; fleet++) {
      // More than one block of hosts, so that skipping blocks is exercised; ids collide in prefix to test their order.
      const n = 1 + Math.floor(r() * 150);
      let hosts: HostView[] = Array.from({ length: n }, (_, j) => randomHost(r, `h${(j * 37) % 101}-${j}`));
      const index = new PlacementIndex(policy, hosts);
      for (let step = 0; step < 60; step++) {
        const d = randomDemand(r);
        const want = placeVm(d, hosts, policy);
        const got = index.place(d);
        assert.equal(got.hostId, want.hostId, `${name}, fleet ${fleet}, step ${step}`);
        if (want.hostId === undefined) {
          assert.ok('summary' in got && 'summary' in want);
          assert.equal(got.summary, want.summary);
        } else if (r() < 0.1) {
          assert.ok('ranking' in got && 'ranking' in want);
          assert.deepEqual(got.ranking, want.ranking);
          assert.deepEqual(got.reasons, want.reasons);
        }
        // What the controller does between placements: reserve, release, a heartbeat, a host gone or new.
        const roll = r();
        if (want.hostId !== undefined && roll < 0.6) {
          const next = index.reserve(want.hostId, d)!;
          hosts = hosts.map((h) => (h.id === next.id ? next : h));
        } else if (roll < 0.75 && hosts.length > 0) {
          const victim = hosts[Math.floor(r() * hosts.length)]!;
          const next = index.release(victim.id, { vcpus: 1, memoryMiB: 512, diskMiB: 1024 })!;
          hosts = hosts.map((h) => (h.id === next.id ? next : h));
        } else if (roll < 0.9 && hosts.length > 0) {
          const at = Math.floor(r() * hosts.length);
          const beat = { ...randomHost(r, hosts[at]!.id), name: hosts[at]!.name };
          index.upsert(beat);
          hosts[at] = beat;
        } else if (roll < 0.95 && hosts.length > 0) {
          const at = Math.floor(r() * hosts.length);
          index.remove(hosts[at]!.id);
          hosts.splice(at, 1);
        } else {
          const fresh = randomHost(r, `n${fleet}-${step}`);
          index.upsert(fresh);
          hosts.push(fresh);
        }
        assert.equal(index.size, hosts.length);
      }
    }
  }
});

test('a host filled since the index was built is skipped; the reservation is checked again', () => {
  const policy = compilePlacementPolicy();
  const index = new PlacementIndex(policy, [makeHost('h1', { reservedMemoryMiB: 3584 }), makeHost('h2')]);
  const d = { vcpus: 1, memoryMiB: 512, diskMiB: 0, networks: ['default'] };
  assert.equal(index.place(d).hostId, 'h1');
  index.reserve('h1', d);
  assert.equal(index.place(d).hostId, 'h2');
  assert.throws(() => index.reserve('h1', d), PlacementError);
  assert.equal(index.get('h1')?.reservedMemoryMiB, 4096, 'a refused reservation changes nothing');
  index.release('h1', d);
  assert.equal(index.place(d).hostId, 'h1');
});

test('nothing fits: the same summary as placeVm, every host with its reason', () => {
  const policy = compilePlacementPolicy();
  const hosts = [makeHost('h2', { state: 'disabled' }), makeHost('h1', { reservedMemoryMiB: 4096 - 256 })];
  const r = new PlacementIndex(policy, hosts).place({ vcpus: 1, memoryMiB: 512, diskMiB: 1024, networks: ['default'] });
  assert.ok(r.hostId === undefined);
  assert.equal(r.summary, 'no host fits: h1: needs 512 MiB memory, 256 free; h2: disabled');
  assert.equal(new PlacementIndex(policy).place({ vcpus: 1, memoryMiB: 1, diskMiB: 0, networks: [] }).hostId, undefined);
});

test('an invalid requirements expression is refused as placeVm refuses it, and changes nothing', () => {
  const index = new PlacementIndex(compilePlacementPolicy(), [makeHost('h1')]);
  assert.throws(() => index.place({ vcpus: 1, memoryMiB: 1, diskMiB: 0, networks: [], requirements: 'labels.zone ==' }), (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.field === 'requirements'));
  assert.equal(index.place({ vcpus: 1, memoryMiB: 1, diskMiB: 0, networks: [] }).hostId, 'h1');
});

test('unknown hosts: reserve and release answer undefined, remove does nothing', () => {
  const index = new PlacementIndex(compilePlacementPolicy(), [makeHost('h1')]);
  assert.equal(index.reserve('nope', { vcpus: 1, memoryMiB: 1, diskMiB: 0 }), undefined);
  assert.equal(index.release('nope', { vcpus: 1, memoryMiB: 1, diskMiB: 0 }), undefined);
  index.remove('nope');
  assert.equal(index.size, 1);
});
