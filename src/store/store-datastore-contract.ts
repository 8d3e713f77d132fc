import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, NotFoundError } from './store-errors.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { Store } from './open-store.js';

/**
 * Datastores as a resource and volumes in clusters (migration 0034): create,
 * get by id or name, what uses one, delete refused while in use — every
 * refusal writes nothing.
 */
export function datastoreContract(fx: () => ContractFixture): void {
  const snapshot = async (store: Store): Promise<unknown> => ({
    datastores: await store.datastores.list(),
    volumes: await store.volumes.list(),
    events: await count(store, 'events'),
  });
  const vmSpec = (datastore: string, demand: Record<string, unknown> = {}) => ({
    agent: { vcpus: 1, memoryMiB: 128, disk: { image: 'x', datastore } },
    demand: { vcpus: 1, memoryMiB: 128, diskMiB: 64, cpuModel: 'qemu64', ...demand },
  });

  it('datastores: create with capacity, get by id and name, list by cluster; delete answers the datastore as it was', async () => {
    const { store, uniq } = fx();
    const cluster = uniq('dc');
    await store.clusters.create({ name: cluster });
    const name = uniq('nfs');
    const events = await count(store, 'events');
    const d = await store.datastores.create({ name, kind: 'shared', path: '/srv/nfs/east', cluster, capacityMib: 512_000 });
    assert.deepEqual([d.kind, d.cluster, d.capacityMib, d.hostId], ['shared', cluster, 512_000, null]);
    assert.equal(await count(store, 'events'), events + 1, 'datastore.created');
    assert.deepEqual(await store.datastores.get(d.id), d);
    assert.deepEqual(await store.datastores.get(name), d);
    assert.deepEqual((await store.datastores.list({ cluster })).map((x) => x.id), [d.id]);
    assert.deepEqual(await store.datastores.users(name), { vms: [], volumes: [], templates: [], vmDiskMib: 0 });
    assert.deepEqual(await store.datastores.delete(name), d);
    await rejectsWith(store.datastores.get(d.id), NotFoundError, 'NOT_FOUND');
    assert.equal(await count(store, 'events'), events + 2, 'datastore.deleted');
  });

  it('datastores: bad input (capacity, a local one naming a cluster, unknown cluster or host) writes nothing', async () => {
    const { store, uniq, enabledHost } = fx();
    const host = await enabledHost(1, 256, 1024);
    const before = await snapshot(store);
    await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'shared', path: '/x', capacityMib: 0 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'capacityMib'));
    await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'local', hostId: host.id, path: '/x', cluster: 'default' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cluster'));
    await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'shared', path: '/x', cluster: uniq('nowhere') }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cluster'));
    await rejectsWith(store.datastores.create({ name: 'bad name', kind: 'shared', path: '/x' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    await rejectsWith(store.datastores.delete(uniq('nowhere')), NotFoundError, 'NOT_FOUND');
    assert.deepEqual(await snapshot(store), before);
  });

  it('datastores.delete: refused naming the VMs, volumes and templates that use it (nothing written); allowed once none does', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const cluster = uniq('dc');
    await store.clusters.create({ name: cluster });
    const host = await enabledHost(4, 2048, 4096);
    await store.clusters.addHost(cluster, host.id);
    const local = await store.datastores.create({ name: uniq('local'), kind: 'local', hostId: host.id, path: '/var/lib/nubo/h' });
    const shared = await store.datastores.create({ name: uniq('nfs'), kind: 'shared', path: '/srv/nfs', cluster });
    const place = async (name: string, datastore: string): Promise<string> => {
      const vm = await store.vms.create({ name, ownerId: owner.id, spec: vmSpec(datastore), charge: { vcpus: 1, memoryMib: 128, diskMib: 64 } });
      await store.vms.bindToHost(vm.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
      return vm.id;
    };
    const onLocal = uniq('vl');
    const localVm = await place(onLocal, 'local');
    const onShared = uniq('vs');
    const sharedVm = await place(onShared, 'shared');
    const vol = await store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: 64, cluster });
    await store.volumes.attach(vol.id, localVm, host.id);
    const tpl = await store.templates.create({ name: uniq('tpl'), ownerId: owner.id, vcpus: 1, memoryMib: 64, disks: [{ image: 'x', datastore: shared.name }] });
    const before = await snapshot(store);
    await rejectsWith(store.datastores.delete(local.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, new RegExp(`is in use: VM ${onLocal}; volume ${vol.name}$`)));
    await rejectsWith(store.datastores.delete(shared.name), ConflictError, 'CONFLICT', (e) => assert.match(e.message, new RegExp(`is in use: VM ${onShared}; template ${tpl.name}$`)));
    assert.deepEqual(await snapshot(store), before, 'refused: nothing written');
    assert.deepEqual(await store.datastores.users(shared.id), { vms: [onShared], volumes: [], templates: [tpl.name], vmDiskMib: 64 });
    // Terminated VMs use nothing; a volume's file stays on its host's datastore until the volume goes.
    await store.db.updateTable('vms').set({ state: 'terminated' }).where('id', 'in', [localVm, sharedVm]).execute();
    await store.volumes.detach(vol.id, localVm);
    await rejectsWith(store.datastores.delete(local.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, new RegExp(`is in use: volume ${vol.name}$`)));
    await store.volumes.delete(vol.id);
    await store.templates.delete(tpl.id);
    assert.equal((await store.datastores.delete(local.id)).id, local.id);
    assert.equal((await store.datastores.delete(shared.id)).id, shared.id);
  });

  it('volumes: live in a cluster (none given: the cluster of their first attach\'s host); an unknown one writes nothing; attach only to a VM on a host of that cluster', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const east = uniq('east');
    await store.clusters.create({ name: east });
    const hostEast = await enabledHost(2, 1024, 4096);
    await store.clusters.addHost(east, hostEast.id);
    const hostDefault = await enabledHost(2, 1024, 4096);
    const free = await store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: 8 });
    assert.equal(free.cluster, null, 'none given: none yet');
    const vol = await store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: 8, cluster: east });
    assert.equal((await store.volumes.get(vol.id)).cluster, east);
    const before = await snapshot(store);
    await rejectsWith(store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: 8, cluster: uniq('nowhere') }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cluster'));
    assert.deepEqual(await snapshot(store), before, 'refused: nothing written');
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: vmSpec('local'), charge: { vcpus: 1, memoryMib: 128, diskMib: 64 } });
    await store.vms.bindToHost(vm.id, hostDefault.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
    const mid = await snapshot(store);
    await rejectsWith(store.volumes.attach(vol.id, vm.id, hostDefault.id), ConflictError, 'CONFLICT', (e) => {
      assert.match(e.message, new RegExp(`is in cluster ${east} and the VM's host ${hostDefault.name} in cluster default`));
    });
    assert.deepEqual(await snapshot(store), mid, 'refused: nothing attached');
    const vm2 = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: vmSpec('local'), charge: { vcpus: 1, memoryMib: 128, diskMib: 64 } });
    await store.vms.bindToHost(vm2.id, hostEast.id, { cpus: 1, memoryMib: 128, diskMib: 64 });
    const attached = await store.volumes.attach(vol.id, vm2.id, hostEast.id);
    assert.deepEqual([attached.vmId, attached.hostId, attached.cluster], [vm2.id, hostEast.id, east]);
    const took = await store.volumes.attach(free.id, vm2.id, hostEast.id);
    assert.equal(took.cluster, east, 'a volume in no cluster takes its first attach\'s host\'s');
    const free2 = await store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: 8 });
    assert.equal((await store.volumes.attach(free2.id, vm.id, hostDefault.id)).cluster, 'default');
  });
}
