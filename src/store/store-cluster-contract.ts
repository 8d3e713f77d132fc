import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, NotFoundError } from './store-errors.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { Store } from './open-store.js';

/** Clusters (migration 0028): create, add-host, delete — each one transaction; every refusal writes nothing. */
export function clusterContract(fx: () => ContractFixture): void {
  /** What a refused cluster operation must leave as it was. */
  const snapshot = async (store: Store): Promise<unknown> => ({
    clusters: await store.clusters.list(),
    hosts: (await store.hosts.list()).map((h) => [h.name, h.cluster]),
    events: await count(store, 'events'),
  });
  const vmSpec = (demand: Record<string, unknown>) => ({ agent: { vcpus: 1, memoryMiB: 128, disk: { image: 'x' } }, demand: { vcpus: 1, memoryMiB: 128, diskMiB: 64, cpuModel: 'qemu64', ...demand } });

  it('clusters: `default` exists and holds every host; create, show, add-host, delete of an empty one', async () => {
    const { store, uniq, enabledHost } = fx();
    assert.ok(await store.clusters.findByName('default'), 'migration 0028 made the default cluster');
    const host = await enabledHost(2, 1024, 1024);
    assert.equal(host.cluster, 'default', 'a new host is in default');
    const name = uniq('east');
    const c = await store.clusters.create({ name, description: 'rack 2' });
    assert.deepEqual([c.name, c.description], [name, 'rack 2']);
    assert.deepEqual(await store.clusters.get(c.id), c);
    assert.deepEqual(await store.clusters.get(name), c);
    const moved = await store.clusters.addHost(name, host.id);
    assert.equal(moved.cluster, name);
    assert.equal((await store.hosts.get(host.id)).cluster, name);
    const events = await count(store, 'events');
    assert.equal((await store.clusters.addHost(c.id, host.id)).cluster, name, 'already there: nothing to do');
    assert.equal(await count(store, 'events'), events, 'and nothing written');
    const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.90.0/29', cluster: name });
    assert.equal(net.cluster, name);
    const ds = await store.datastores.create({ name: uniq('ds'), kind: 'shared', path: '/srv/east', cluster: name });
    assert.equal(ds.cluster, name);
    assert.deepEqual(await store.clusters.detail(name), { ...c, hosts: [host.name], networks: [net.name], datastores: [ds.name] });
    // Not empty: the refusal names what is in it.
    const before = await snapshot(store);
    await rejectsWith(store.clusters.delete(name), ConflictError, 'CONFLICT', (e) => {
      assert.match(e.message, new RegExp(`is not empty: host ${host.name}; network ${net.name}; datastore ${ds.name}`));
    });
    assert.deepEqual(await snapshot(store), before);
    await store.networks.delete(net.id);
    await store.datastores.delete(ds.id);
    await store.clusters.addHost('default', host.id);
    assert.deepEqual(await store.clusters.delete(name), c);
    await rejectsWith(store.clusters.get(name), NotFoundError, 'NOT_FOUND');
  });

  it('clusters: bad input — a taken name, a bad name, unknown cluster or host, deleting default, a cluster nothing has — writes nothing', async () => {
    const { store, uniq, enabledHost } = fx();
    const host = await enabledHost(1, 256, 256);
    const name = uniq('west');
    await store.clusters.create({ name });
    const before = await snapshot(store);
    await rejectsWith(store.clusters.create({ name }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
    await rejectsWith(store.clusters.create({ name: 'no spaces' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    await rejectsWith(store.clusters.addHost(uniq('nowhere'), host.id), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'cluster'));
    await rejectsWith(store.clusters.addHost(name, 'no-such-host'), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'host'));
    await rejectsWith(store.clusters.delete('default'), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /cannot be deleted/));
    await rejectsWith(store.clusters.delete(uniq('nowhere')), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.18.91.0/29', cluster: uniq('nowhere') }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cluster'));
    await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'shared', path: '/srv/x', cluster: uniq('nowhere') }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cluster'));
    assert.deepEqual(await snapshot(store), before);
  });

  it('clusters.addHost: a host whose VMs are tied to its cluster does not move (nothing written); other VMs move with it', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const a = uniq('ca');
    const b = uniq('cb');
    await store.clusters.create({ name: a });
    await store.clusters.create({ name: b });
    const host = await enabledHost(4, 2048, 2048);
    await store.clusters.addHost(a, host.id);
    const place = async (name: string, demand: Record<string, unknown>): Promise<string> => {
      const vm = await store.vms.create({ name, ownerId: owner.id, spec: vmSpec(demand), charge: { vcpus: 1, memoryMib: 128, diskMib: 64 } });
      await store.vms.bindToHost(vm.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
      return vm.id;
    };
    const free = await place(uniq('free'), {});
    const asks = uniq('asks');
    const asking = await place(asks, { cluster: a });
    const bound = uniq('bound');
    await place(bound, { bindings: [{ kind: 'network', name: 'web', cluster: a }] });
    const before = await snapshot(store);
    await rejectsWith(store.clusters.addHost(b, host.id), ConflictError, 'CONFLICT', (e) => {
      assert.match(e.message, new RegExp(`cannot move to cluster ${b}: VM ${asks}: the VM asks for cluster ${a}; VM ${bound}: network web is bound to cluster ${a} \\(migrate them off first\\)`));
    });
    // The caller's own rule (the route's: the VM's requirements) refuses the same way.
    await rejectsWith(store.clusters.addHost(b, host.id, (vm) => (vm.name === asks ? undefined : 'no')), ConflictError, 'CONFLICT');
    assert.deepEqual(await snapshot(store), before, 'refused: nothing written');
    // Once those two are terminated (set directly: the life cycle is not what is tested here), the host moves.
    await store.db.updateTable('vms').set({ state: 'terminated' }).where((eb) => eb.or([eb('id', '=', asking), eb('name', '=', bound)])).execute();
    const moved = await store.clusters.addHost(b, host.id);
    assert.equal(moved.cluster, b);
    assert.equal((await store.vms.get(free)).hostId, host.id, 'its other VM moved with it');
  });
}
