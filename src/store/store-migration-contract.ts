import { it } from 'node:test';
import type { Host } from './repositories/hosts-repository.js';
import assert from 'node:assert/strict';
import { CapacityError, ConflictError, NotFoundError, StaleStateError } from './store-errors.js';
import { ValidationError } from '../errors/validation-error.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** Migration records and the live migration's reservation: journal, one running per VM, finish exactly once. Registered inside storeContract's suite. */
export function migrationContract(fx: () => ContractFixture): void {
  it('migrations: create, stages journalled, finish once, listUnfinished; one running per VM', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const a = await enabledHost(4, 4096, 10_000);
    const b = await enabledHost(4, 4096, 10_000);
    const vm = await store.vms.create({ name: uniq('mig'), ownerId: owner.id });
    const m = await store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id });
    assert.equal(m.state, 'running');
    assert.equal(m.stage, 'pre-migration');
    assert.equal(m.journal.length, 1);
    await rejectsWith(store.migrations.create({ vmId: vm.id, kind: 'cold', sourceHostId: a.id, destHostId: b.id }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'vmId'));
    await rejectsWith(store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: a.id }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'destHostId'));
    await rejectsWith(store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: 'ghost' }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'host'));
    await store.migrations.updateStage(m.id, 'reservation');
    const pc = await store.migrations.updateStage(m.id, 'precopy', { passes: 3, remaining: 1024 });
    assert.deepEqual(pc.journal.map((j) => j.stage), ['pre-migration', 'reservation', 'precopy']);
    assert.deepEqual(pc.journal[2]?.data, { passes: 3, remaining: 1024 });
    assert.ok((await store.migrations.listUnfinished()).some((x) => x.id === m.id));
    const done = await store.migrations.finish(m.id, { state: 'succeeded', stats: { downtimeMs: 4, transferredBytes: 3 * 2 ** 32 } });
    assert.equal(done.state, 'succeeded');
    assert.ok(done.finishedAt !== null);
    assert.deepEqual(done.stats, { downtimeMs: 4, transferredBytes: 3 * 2 ** 32 });
    assert.deepEqual(await store.migrations.get(m.id), done);
    assert.ok(!(await store.migrations.listUnfinished()).some((x) => x.id === m.id));
    assert.ok((await store.migrations.listFinishedSince(new Date(0).toISOString())).some((x) => x.id === m.id));
    assert.ok(!(await store.migrations.listFinishedSince(done.finishedAt)).some((x) => x.id === m.id));
    await rejectsWith(store.migrations.finish(m.id, { state: 'failed' }), StaleStateError, 'STALE_STATE', (e) => assert.equal(e.current, 'succeeded'));
    await rejectsWith(store.migrations.updateStage(m.id, 'commit'), StaleStateError, 'STALE_STATE');
    await rejectsWith(store.migrations.get('ghost'), NotFoundError, 'NOT_FOUND');
    const next = await store.migrations.create({ vmId: vm.id, kind: 'cold', sourceHostId: b.id, destHostId: a.id });
    const aborted = await store.migrations.finish(next.id, { state: 'aborted', reason: 'destination unreachable' });
    assert.equal(aborted.reason, 'destination unreachable');
    assert.deepEqual((await store.migrations.list({ vmId: vm.id })).map((x) => x.state), ['succeeded', 'aborted']);
  });

  it('migrations: a copy left behind and released later ends the record (source: cleaned; destination: released)', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const a = await enabledHost(4, 4096, 10_000);
    const b = await enabledHost(4, 4096, 10_000);
    const vm = await store.vms.create({ name: uniq('left'), ownerId: owner.id });
    const fwd = await store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id });
    await store.migrations.updateStage(fwd.id, 'activated');
    await store.migrations.finish(fwd.id, { state: 'succeeded', stats: { downtimeMs: 5, sourceReleased: false } });
    const back = await store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: b.id, destHostId: a.id });
    await store.migrations.updateStage(back.id, 'aborted');
    await store.migrations.finish(back.id, { state: 'failed', stats: { destReleased: false } });
    // Nothing waits for a release on a host that is neither end, nor for the same host twice.
    const c = await enabledHost(4, 4096, 10_000);
    assert.deepEqual(await store.migrations.noteCopyReleased(vm.id, c.id), []);
    const onA = await store.migrations.noteCopyReleased(vm.id, a.id);
    assert.equal(onA.length, 2);
    const f = onA.find((m) => m.id === fwd.id);
    const r = onA.find((m) => m.id === back.id);
    assert.deepEqual([f?.stage, f?.state, r?.stage, r?.state], ['cleaned', 'succeeded', 'aborted', 'failed']);
    assert.deepEqual(f?.stats, { downtimeMs: 5, sourceReleased: true });
    assert.deepEqual(r?.stats, { destReleased: true });
    assert.equal(f?.journal.at(-1)?.stage, 'cleaned');
    assert.equal(r?.journal.at(-1)?.stage, 'released');
    assert.deepEqual(await store.migrations.get(fwd.id), f);
    assert.deepEqual(await store.migrations.noteCopyReleased(vm.id, a.id), []);
    assert.deepEqual(await store.migrations.noteCopyReleased(vm.id, b.id), [], 'b was the source of the failed one and the destination of the succeeded one');
    // A running migration is the migrator's, not the monitor's.
    const running = await store.migrations.create({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id });
    assert.deepEqual(await store.migrations.noteCopyReleased(vm.id, a.id), []);
    assert.equal((await store.migrations.get(running.id)).state, 'running');
    await rejectsWith(store.migrations.noteCopyReleased('', a.id), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'vmId'));
  });

  it('live migration reservation: destination held until the commit moves the VM, the end frees the rest, exactly once', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const a = await enabledHost(4, 4096, 10_000);
    const b = await enabledHost(4, 1024, 10_000);
    const vm = await store.vms.create({ name: uniq('lm'), ownerId: owner.id });
    const demand = { cpus: 1, memoryMib: 512, diskMib: 100 };
    await store.vms.bindToHost(vm.id, a.id, demand);
    const free = async (h: Host) => (await store.hosts.get(h.id)).free;
    const aFree = await free(a);
    const bFree = await free(b);
    // Too big for b: refused, nothing written.
    const before = await count(store, 'migrations');
    await rejectsWith(
      store.migrations.createWithReservation({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id }, { cpus: 1, memoryMib: 2048, diskMib: 100 }),
      CapacityError, 'CAPACITY', (e) => {
        assert.equal(e.hostId, b.id);
        assert.match(e.message, new RegExp(`^host ${b.name} cannot take `));
      },
    );
    // The VM is not on b: the wrong source is refused.
    await rejectsWith(store.migrations.createWithReservation({ vmId: vm.id, kind: 'live', sourceHostId: b.id, destHostId: a.id }, demand), ConflictError, 'CONFLICT', (e) => {
      assert.equal(e.field, 'sourceHostId');
      assert.match(e.message, new RegExp(`the VM is on ${a.name}`), 'the host named as operators know it');
    });
    assert.equal(await count(store, 'migrations'), before);
    assert.deepEqual(await free(b), bFree);

    const m = await store.migrations.createWithReservation({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id, policy: { downtimeMs: 300 } }, demand);
    assert.equal(m.stage, 'reservation');
    assert.deepEqual(m.reserved, demand);
    assert.deepEqual(m.policy, { downtimeMs: 300 });
    assert.deepEqual(await free(b), { cpus: bFree.cpus - 1, memoryMib: bFree.memoryMib - 512, diskMib: bFree.diskMib - 100 });
    assert.deepEqual(await free(a), aFree, 'the source keeps its reservation until the commit');

    await store.migrations.updateProgress(m.id, { remainingBytes: 1000, passes: 2 });
    assert.deepEqual((await store.migrations.get(m.id)).stats, { remainingBytes: 1000, passes: 2 });

    const c = await store.migrations.commit(m.id);
    assert.equal(c.stage, 'committed');
    assert.deepEqual(c.reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
    const moved = await store.vms.get(vm.id);
    assert.equal(moved.hostId, b.id);
    assert.deepEqual(moved.reserved, demand);
    assert.deepEqual(await free(a), { cpus: aFree.cpus + 1, memoryMib: aFree.memoryMib + 512, diskMib: aFree.diskMib + 100 });
    assert.deepEqual(await store.migrations.commit(m.id), c, 'a second commit changes nothing');

    const r = await store.migrations.revertCommit(m.id, 'destination died before activation');
    assert.equal(r.stage, 'committed', 'the stage stays; the journal says reverted');
    assert.equal(r.journal.at(-1)?.stage, 'reverted');
    assert.equal((await store.vms.get(vm.id)).hostId, a.id);
    assert.deepEqual(await free(a), aFree);
    assert.deepEqual(await free(b), bFree);
    await store.migrations.finish(m.id, { state: 'failed', reason: 'activation failed' });
    assert.deepEqual(await free(b), bFree);

    // An aborted migration frees the destination at the end, once.
    const m2 = await store.migrations.createWithReservation({ vmId: vm.id, kind: 'live', sourceHostId: a.id, destHostId: b.id }, demand);
    assert.equal((await free(b)).memoryMib, bFree.memoryMib - 512);
    await store.migrations.finish(m2.id, { state: 'aborted', reason: 'cancelled' });
    assert.deepEqual(await free(b), bFree);
    await rejectsWith(store.migrations.finish(m2.id, { state: 'aborted' }), StaleStateError, 'STALE_STATE');
    assert.deepEqual(await free(b), bFree);
    assert.deepEqual(await free(a), aFree);
  });
}
