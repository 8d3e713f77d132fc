import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import { Views } from './views.js';

/** Counts calls of the named methods of a repository. */
function counting(target: object, methods: readonly string[]): { total(): number } {
  let n = 0;
  for (const m of methods) {
    const t = target as Record<string, (...a: unknown[]) => unknown>;
    const original = t[m]!.bind(target);
    t[m] = (...a: unknown[]) => {
      n++;
      return original(...a);
    };
  }
  return { total: () => n };
}

async function fleet() {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-views-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const { user: alice } = await store.users.create({ name: 'alice', role: 'user' });
  const { user: bob } = await store.users.create({ name: 'bob', role: 'user' });
  const hosts = [];
  for (let i = 1; i <= 4; i++) {
    const h = await store.hosts.register({ name: `h${i}`, agentUrl: `http://127.0.0.1:${9000 + i}`, agentToken: `${i}`.repeat(20), totalCpus: 64, totalMemoryMib: 65_536, totalDiskMib: 100_000 });
    await store.hosts.setState(h.id, 'enabled');
    hosts.push(h);
  }
  for (let i = 0; i < 30; i++) {
    const v = await store.vms.create({ name: `v${i}`, ownerId: i % 2 === 0 ? alice.id : bob.id });
    if (i % 5 !== 0) await store.vms.bindToHost(v.id, hosts[i % 3]!.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
    if (i % 5 !== 0 && i % 7 === 1) await store.vms.transition(v.id, { from: ['prolog'], to: 'terminated', action: 'terminate' });
  }
  return { store, hosts, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('a list of VMs is viewed with a fixed number of queries, exactly as one by one', async () => {
  const { store, cleanup } = await fleet();
  try {
    const views = new Views(store);
    const vms = await store.vms.list();
    const oneByOne = await Promise.all(vms.map((v) => views.vm(v)));
    const reads = counting(store.users, ['get', 'list']);
    const hostReads = counting(store.hosts, ['get', 'list']);
    const templateReads = counting(store.templates, ['get', 'list']);
    const listed = await views.vms(vms);
    assert.deepEqual(listed, oneByOne);
    assert.equal(reads.total() + hostReads.total() + templateReads.total(), 3, 'one read per kind of name, whatever the number of VMs');
    assert.ok(listed.some((v) => v.host === 'h1') && listed.some((v) => v.owner === 'bob'), 'names, not ids');
  } finally {
    await cleanup();
  }
});

test('a list of hosts counts their VMs in one query, exactly as one by one (terminated VMs not counted)', async () => {
  const { store, hosts, cleanup } = await fleet();
  try {
    const views = new Views(store);
    const all = await store.hosts.list();
    const admin = { role: 'admin' as const };
    const oneByOne = await Promise.all(all.map((h) => views.host(h, admin)));
    const reads = counting(store.vms, ['list', 'countNotTerminatedByHost']);
    assert.deepEqual(await views.hosts(all, admin), oneByOne);
    assert.equal(reads.total(), 1);
    assert.equal(oneByOne.find((h) => h.id === hosts[3]!.id)?.vms, 0, 'a host without VMs counts 0');
    assert.ok(oneByOne.every((h) => h.agentUrl !== null));
    assert.ok((await views.hosts(all, { role: 'user' })).every((h) => h.agentUrl === null), 'the agent URL stays admin-only');
  } finally {
    await cleanup();
  }
});

test('a VM\'s view names the datastore its disk is on (the spec\'s, which a disk move changes)', async () => {
  const { store, cleanup } = await fleet();
  try {
    const views = new Views(store);
    const owner = (await store.users.list())[0]!;
    const disk = (datastore?: string): Record<string, unknown> => ({ agent: { vcpus: 1, memoryMiB: 128, disk: { image: {}, ...(datastore !== undefined ? { datastore } : {}) }, nics: [], context: {} }, demand: { vcpus: 1, memoryMiB: 128, diskMiB: 0, cpuModel: 'qemu64' } });
    const shared = await store.vms.create({ name: 'on-shared', ownerId: owner.id, spec: disk('shared') as never });
    const local = await store.vms.create({ name: 'on-local', ownerId: owner.id, spec: disk('local') as never });
    const old = await store.vms.create({ name: 'no-field', ownerId: owner.id, spec: disk() as never });
    assert.equal((await views.vm(shared)).datastore, 'shared');
    assert.equal((await views.vm(local)).datastore, 'local');
    assert.equal((await views.vm(old)).datastore, 'local', 'a spec from before the field: the host\'s own datastore');
    assert.deepEqual((await views.vms([shared, local])).map((v) => v.datastore), ['shared', 'local']);
  } finally {
    await cleanup();
  }
});

test('a clone\'s view says which VM it is a clone of; another VM\'s says nothing of the kind', async () => {
  const { store, cleanup } = await fleet();
  try {
    const views = new Views(store);
    const owner = (await store.users.list())[0]!;
    const spec = { agent: { vcpus: 1, memoryMiB: 128, disk: { image: {} }, nics: [], context: {} }, demand: { vcpus: 1, memoryMiB: 128, diskMiB: 0, cpuModel: 'qemu64' } };
    const src = await store.vms.create({ name: 'src', ownerId: owner.id, spec });
    const copy = await store.vms.create({ name: 'copy', ownerId: owner.id, spec: { ...spec, cloneOf: { vmId: src.id, vmName: 'src' } } });
    assert.deepEqual((await views.vm(copy)).cloneOf, { id: src.id, name: 'src' });
    assert.equal('cloneOf' in (await views.vm(src)), false);
    assert.deepEqual((await views.vms([src, copy])).map((v) => v.cloneOf), [undefined, { id: src.id, name: 'src' }]);
  } finally {
    await cleanup();
  }
});

test('a network\'s leases name their holders the caller may see, by id only the others', async () => {
  const { store, cleanup } = await fleet();
  try {
    const views = new Views(store);
    const owner = (await store.users.list())[0]!;
    const net = await store.networks.create({ name: 'lan', cidr: '198.18.64.0/29' });
    const mine = await store.vms.create({ name: 'mine', ownerId: owner.id, spec: {} }, { networks: [net.id], spec: () => ({}) });
    const theirs = await store.vms.create({ name: 'theirs', ownerId: owner.id, spec: {} }, { networks: [net.id], spec: () => ({}) });
    const shown = await views.networkDetail(net, (vms) => Promise.resolve(vms.filter((v) => v.id === mine.id)));
    const byVm = new Map(shown.leases.map((l) => [l.vm, l.vmName]));
    assert.equal(byVm.get(mine.id), 'mine');
    assert.equal(byVm.has(theirs.id) && byVm.get(theirs.id) === undefined, true, 'by id only');
    assert.ok((await views.networkDetail(net)).leases.every((l) => l.vmName === undefined), 'no one visible: no names');
  } finally {
    await cleanup();
  }
});
