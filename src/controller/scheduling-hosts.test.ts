import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../store/open-store.js';
import { compilePlacementPolicy } from '../core/placement/placement-policy.js';
import { SchedulingHosts } from './scheduling-hosts.js';

const demand = { vcpus: 1, memoryMiB: 128, diskMiB: 0, networks: [] };

async function setup(hostCount: number): Promise<{ store: Store; lists: () => number; ids: string[]; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-sched-hosts-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const ids: string[] = [];
  for (let i = 0; i < hostCount; i++) {
    const h = await store.hosts.register({ name: `h${i}`, agentUrl: `http://127.0.0.1:9/${i}`, agentToken: 't'.repeat(20), cpuModel: 'qemu64', totalCpus: 1, totalMemoryMib: 1024, totalDiskMib: 1000 });
    await store.hosts.setState(h.id, 'enabled');
    ids.push(h.id);
  }
  let n = 0;
  const list = store.hosts.list.bind(store.hosts);
  store.hosts.list = (...args) => (n++, list(...args));
  return { store, lists: () => n, ids, cleanup: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
}

test('the hosts are read once per maxAgeMs, not once per placement', async () => {
  const t = await setup(3);
  try {
    const hosts = new SchedulingHosts({ store: t.store, policy: compilePlacementPolicy(), maxAgeMs: 60_000 });
    const first = await hosts.current();
    assert.equal(first.fresh, true);
    for (let i = 0; i < 10; i++) assert.equal((await hosts.current()).fresh, false);
    assert.equal(t.lists(), 1);
    const stale = new SchedulingHosts({ store: t.store, policy: compilePlacementPolicy(), maxAgeMs: 0 });
    await stale.current();
    await stale.current();
    assert.equal(t.lists(), 3);
  } finally {
    await t.cleanup();
  }
});

test('callers asking for a fresh read while one is under way share the one read after it', async () => {
  const t = await setup(1);
  try {
    const hosts = new SchedulingHosts({ store: t.store, policy: compilePlacementPolicy() });
    await Promise.all(Array.from({ length: 20 }, () => hosts.refresh()));
    assert.equal(t.lists(), 2);
  } finally {
    await t.cleanup();
  }
});

test('a reservation bound here is counted until the next read, unless a read started since the placement', async () => {
  const t = await setup(1);
  try {
    const hosts = new SchedulingHosts({ store: t.store, policy: compilePlacementPolicy(), maxAgeMs: 60_000 });
    const { index } = await hosts.current();
    const host = t.ids[0]!;
    hosts.reserved(host, demand, hosts.generation);
    assert.equal(index.get(host)?.reservedCpus, 1);
    assert.equal(index.place(demand).hostId, undefined, 'the one CPU is taken in the copy');
    const before = hosts.generation;
    const fresh = await hosts.refresh();
    hosts.reserved(host, demand, before);
    assert.equal(fresh.get(host)?.reservedCpus, 0, 'the store has no reservation, and a read started after the placement is not added to');
  } finally {
    await t.cleanup();
  }
});

test('a host read back alone: changed state, or gone from the store', async () => {
  const t = await setup(2);
  try {
    const hosts = new SchedulingHosts({ store: t.store, policy: compilePlacementPolicy(), maxAgeMs: 60_000 });
    const { index } = await hosts.current();
    await t.store.hosts.setState(t.ids[0]!, 'disabled');
    await hosts.refreshHost(t.ids[0]!);
    assert.equal(index.get(t.ids[0]!)?.state, 'disabled');
    await hosts.refreshHost('no-such-host');
    assert.equal(index.size, 2);
    assert.equal(index.place(demand).hostId, t.ids[1]);
  } finally {
    await t.cleanup();
  }
});
