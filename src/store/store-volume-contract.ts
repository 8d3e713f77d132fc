import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, DiskCapacityError, NotFoundError } from './store-errors.js';
import { MAX_VOLUMES_PER_VM } from './repositories/volumes-repository.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/**
 * Volumes in the store contract: names per owner, the first attach binds a
 * volume to its host, slots per VM never shared (also under a race), and a
 * volume attached is never deleted. Registered inside storeContract's suite.
 */
export function volumeContract(fx: () => ContractFixture): void {
  it('volumes: create validates name and size and writes nothing on refusal', async () => {
    const { store, owner, uniq } = fx();
    const name = uniq('vol');
    const v = await store.volumes.create({ name, ownerId: owner.id, sizeMib: 64 });
    assert.deepEqual({ ...v, id: '', createdAt: '' }, { id: '', createdAt: '', name, ownerId: owner.id, sizeMib: 64, hostId: null, vmId: null, slot: null, cluster: null });
    assert.deepEqual(await store.volumes.get(v.id), v);
    assert.ok((await store.volumes.list({ ownerId: owner.id })).some((x) => x.id === v.id));
    const [rows, events] = [await count(store, 'volumes'), await count(store, 'events')];
    await rejectsWith(store.volumes.create({ name, ownerId: owner.id, sizeMib: 1 }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
    for (const bad of ['../etc', '/tmp/x', 'a/b', '', 'UPPER', 'x'.repeat(64)]) {
      await rejectsWith(store.volumes.create({ name: bad, ownerId: owner.id, sizeMib: 1 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
    }
    for (const size of [0, -1, 1.5, 1024 * 1024 + 1]) {
      await rejectsWith(store.volumes.create({ name: uniq('vol'), ownerId: owner.id, sizeMib: size }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sizeMib'));
    }
    await rejectsWith(store.volumes.create({ name: uniq('vol'), ownerId: 'ghost', sizeMib: 1 }), NotFoundError, 'NOT_FOUND');
    assert.deepEqual([await count(store, 'volumes'), await count(store, 'events')], [rows, events]);
    await rejectsWith(store.volumes.get('ghost'), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'volume'));
  });

  it('volumes: the first attach counts the size against the host\'s disk (VMs\' reservations and its other volumes); nothing changes on refusal', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const h = await enabledHost(4, 4096, 1_000);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    await store.vms.bindToHost(vm.id, h.id, { cpus: 1, memoryMib: 128, diskMib: 300 });
    const a = await store.volumes.create({ name: uniq('a'), ownerId: owner.id, sizeMib: 500 });
    const b = await store.volumes.create({ name: uniq('b'), ownerId: owner.id, sizeMib: 201 });
    const huge = await store.volumes.create({ name: uniq('huge'), ownerId: owner.id, sizeMib: 1024 * 1024 });
    await store.volumes.attach(a.id, vm.id, h.id);
    const before = [await count(store, 'events'), await store.volumes.list({ vmId: vm.id })] as const;
    for (const v of [b, huge]) {
      await rejectsWith(store.volumes.attach(v.id, vm.id, h.id), DiskCapacityError, 'DISK_CAPACITY', (e) => {
        assert.equal(e.field, 'volume');
        assert.equal(e.freeMib, 1_000 - 300 - 500);
        assert.match(e.message, /volume/);
      });
      assert.equal((await store.volumes.get(v.id)).hostId, null, 'not bound');
    }
    assert.deepEqual([await count(store, 'events'), await store.volumes.list({ vmId: vm.id })], before);
    // A volume already on the host takes no new room: detached and attached again, it fits.
    await store.volumes.detach(a.id, vm.id);
    assert.equal((await store.volumes.attach(a.id, vm.id, h.id)).hostId, h.id);
  });

  it('volumes: attach takes the lowest free slot and binds the host; detach keeps the host; delete is refused while attached', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const [h1, h2] = [await enabledHost(4, 4096, 10_000), await enabledHost(4, 4096, 10_000)];
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    const other = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    const [a, b] = [await store.volumes.create({ name: uniq('a'), ownerId: owner.id, sizeMib: 8 }), await store.volumes.create({ name: uniq('b'), ownerId: owner.id, sizeMib: 8 })];
    const at = await store.volumes.attach(a.id, vm.id, h1.id);
    assert.deepEqual([at.vmId, at.hostId, at.slot], [vm.id, h1.id, 0]);
    assert.equal((await store.volumes.attach(b.id, vm.id, h1.id)).slot, 1);
    const snapshot = [await count(store, 'events'), await store.volumes.list({ vmId: vm.id })] as const;
    await rejectsWith(store.volumes.attach(a.id, vm.id, h1.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /already attached to this VM/));
    await rejectsWith(store.volumes.attach(a.id, other.id, h1.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /another VM/));
    await rejectsWith(store.volumes.delete(a.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /detach it first/));
    assert.deepEqual([await count(store, 'events'), await store.volumes.list({ vmId: vm.id })], snapshot);

    const detached = await store.volumes.detach(a.id, vm.id);
    assert.deepEqual([detached.vmId, detached.slot, detached.hostId], [null, null, h1.id], 'the file stays on its host');
    assert.deepEqual(await store.volumes.detach(a.id, vm.id), detached, 'idempotent');
    await rejectsWith(store.volumes.attach(a.id, other.id, h2.id), ConflictError, 'CONFLICT', (e) => {
      assert.equal(e.field, 'name');
      assert.ok(e.message.includes(`its file is on host ${h1.name}, the VM on host ${h2.name}`), e.message);
    });
    assert.equal((await store.volumes.attach(a.id, vm.id, h1.id)).slot, 0, 'slot 0 was free again');
    await store.volumes.detach(a.id, vm.id);
    await store.volumes.delete(a.id);
    await rejectsWith(store.volumes.get(a.id), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.volumes.delete(a.id), NotFoundError, 'NOT_FOUND');
  });

  it('volumes: concurrent attaches to one VM get distinct slots, at most MAX_VOLUMES_PER_VM', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const h = await enabledHost(4, 4096, 10_000);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    const vols = await Promise.all(Array.from({ length: MAX_VOLUMES_PER_VM + 2 }, () => store.volumes.create({ name: uniq('c'), ownerId: owner.id, sizeMib: 1 })));
    const results = await Promise.allSettled(vols.map((v) => store.volumes.attach(v.id, vm.id, h.id)));
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.slot] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.deepEqual([...won].sort((x, y) => x! - y!), Array.from({ length: MAX_VOLUMES_PER_VM }, (_, i) => i));
    assert.equal(lost.length, 2);
    for (const e of lost) assert.ok(e instanceof ConflictError && /the most a VM may have/.test(e.message), String(e));
  });
}
