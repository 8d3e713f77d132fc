import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, NotFoundError } from './store-errors.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** Forgetting hosts and purging terminated VMs: what goes, what stays, what refuses. Registered inside storeContract's suite. */
export function purgeContract(fx: () => ContractFixture): void {
  it('vms.purgeTerminated: only terminated VMs changed before the cutoff (and the owner\'s), with their history; events stay', async () => {
    const { store, owner, uniq } = fx();
    const since = await store.events.lastSeq();
    const other = (await store.users.create({ name: uniq('user') })).user;
    const gone = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    await store.vms.transition(gone.id, { from: ['pending'], to: 'terminated', action: 'terminate' });
    const theirs = await store.vms.create({ name: uniq('vm'), ownerId: other.id });
    await store.vms.transition(theirs.id, { from: ['pending'], to: 'terminated', action: 'terminate' });
    const live = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    assert.deepEqual(await store.vms.purgeTerminated({ before: '2000-01-01T00:00:00.000Z', ownerId: owner.id }), [], 'none that old');
    const later = new Date(Date.now() + 60_000).toISOString();
    const purged = await store.vms.purgeTerminated({ before: later, ownerId: owner.id });
    // The suite's store holds other cases' VMs too: only the owner's terminated ones may go.
    assert.ok(purged.some((v) => v.id === gone.id));
    assert.ok(purged.every((v) => v.state === 'terminated' && v.ownerId === owner.id));
    await rejectsWith(store.vms.get(gone.id), NotFoundError, 'NOT_FOUND');
    assert.deepEqual(await store.vms.history(gone.id), []);
    assert.equal((await store.vms.get(theirs.id)).state, 'terminated', 'another owner\'s stays');
    assert.equal((await store.vms.get(live.id)).state, 'pending');
    const events = await store.events.listSince(since, 1000);
    assert.ok(events.some((e) => e.resourceId === gone.id && e.kind === 'vm.purged'));
    assert.ok(events.some((e) => e.resourceId === gone.id && e.kind === 'vm.created'), 'the event log keeps its past');
  });

  it('hosts.delete: refused while a live VM is on it; terminated VMs lose the reference', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const host = await enabledHost(2, 512, 1000);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    await store.vms.bindToHost(vm.id, host.id, { cpus: 1, memoryMib: 64, diskMib: 1 });
    await rejectsWith(store.hosts.delete(host.id), ConflictError, 'CONFLICT', (e) => assert.match(e.message, new RegExp(vm.name)));
    assert.equal((await store.hosts.get(host.id)).id, host.id, 'nothing deleted');
    await store.vms.transition(vm.id, { from: ['prolog'], to: 'terminated', action: 'terminate' });
    assert.equal((await store.hosts.delete(host.id)).id, host.id);
    await rejectsWith(store.hosts.get(host.id), NotFoundError, 'NOT_FOUND');
    assert.equal((await store.vms.get(vm.id)).hostId, null);
    await rejectsWith(store.hosts.delete(host.id), NotFoundError, 'NOT_FOUND');
  });
}
