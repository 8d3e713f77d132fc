import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAwareRanker, packingRanker, rankHosts, stripingRanker, utilisation, type HostRanker } from './host-rankers.js';
import { makeHost } from './host-view.fixture.js';

const ctx = { cpuOvercommit: 1 };
// h-empty: nothing reserved; h-half: half the memory; h-cpu: 3 of 4 CPUs; h-full-ish: 7/8 memory.
const hosts = [
  makeHost('h-half', { reservedMemoryMiB: 2048, load: 0.9 }),
  makeHost('h-empty', { load: 0.5 }),
  makeHost('h-cpu', { reservedCpus: 3, load: 0.1 }),
  makeHost('h-fullish', { reservedMemoryMiB: 3584, load: 0.7 }),
];
const order = (ranker: HostRanker, list = hosts, c = ctx): string[] => rankHosts(list, ranker, c).map((r) => r.hostId);

test('utilisation is the dominant share of CPU and memory', () => {
  assert.equal(utilisation(makeHost('h'), 1), 0);
  assert.equal(utilisation(makeHost('h', { reservedCpus: 2, reservedMemoryMiB: 1024 }), 1), 0.5);
  assert.equal(utilisation(makeHost('h', { reservedCpus: 2, reservedMemoryMiB: 1024 }), 2), 0.25);
  assert.equal(utilisation(makeHost('h', { totalCpus: 0, totalMemoryMiB: 0 }), 1), 1, 'a host with no capacity counts as full');
});

test('packing prefers the fullest host', () => {
  assert.deepEqual(order(packingRanker), ['h-fullish', 'h-cpu', 'h-half', 'h-empty']);
});

test('striping prefers the emptiest host', () => {
  assert.deepEqual(order(stripingRanker), ['h-empty', 'h-half', 'h-cpu', 'h-fullish']);
});

test('load-aware prefers the least loaded host', () => {
  assert.deepEqual(order(loadAwareRanker), ['h-cpu', 'h-empty', 'h-fullish', 'h-half']);
});

test('overcommit changes CPU shares', () => {
  // With 4× overcommit, h-cpu's 3 CPUs are 3/16 < h-half's 1/2.
  assert.deepEqual(order(packingRanker, hosts, { cpuOvercommit: 4 }), ['h-fullish', 'h-half', 'h-cpu', 'h-empty']);
});

test('ties are broken by host id, in code-unit order, whatever the input order', () => {
  const same = ['b', 'a', 'C', 'a2', 'B'].map((id) => makeHost(id));
  assert.deepEqual(order(packingRanker, same), ['B', 'C', 'a', 'a2', 'b']);
  assert.deepEqual(order(packingRanker, [...same].reverse()), ['B', 'C', 'a', 'a2', 'b']);
});

test('scores are reported; NaN ranks last', () => {
  const ranked = rankHosts([makeHost('x', { load: Number.NaN }), makeHost('y', { load: 0.2 }), makeHost('z', { load: 1 })], loadAwareRanker, ctx);
  assert.deepEqual(ranked, [
    { hostId: 'y', score: 0.8 },
    { hostId: 'z', score: 0 },
    { hostId: 'x', score: -Infinity },
  ]);
  const infinite = rankHosts([makeHost('b'), makeHost('a')], () => Infinity, ctx);
  assert.deepEqual(infinite.map((r) => r.hostId), ['a', 'b']);
});
