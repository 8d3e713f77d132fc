import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { StaleStateError } from './store-errors.js';
import type { Store } from './open-store.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { UsageRecord } from './repositories/usage-repository.js';

const spec = (vcpus: number, memoryMiB: number, diskMiB: number, volumes: { id: string; slot: number; sizeMiB: number }[] = []) => ({
  demand: { vcpus, memoryMiB, diskMiB, cpuModel: 'qemu64' }, agent: { volumes },
});

/** The VM's records as its state history says they must be: one per state entered (but terminated), each ended by the next entry. */
async function expectedFromHistory(store: Store, vmId: string): Promise<{ state: string; startedAt: string; endedAt: string | null }[]> {
  const h = await store.vms.history(vmId);
  return h.flatMap((e, k) => (e.toState === 'terminated' ? [] : [{ state: e.toState, startedAt: e.at, endedAt: h[k + 1]?.at ?? null }]));
}

const shape = (rs: readonly UsageRecord[]) => rs.map((r) => ({ state: r.state, startedAt: r.startedAt, endedAt: r.endedAt }));

/** Usage records (migration 0009) follow the VMs' state changes in the same transactions. Registered inside storeContract's suite. */
export function usageContract(fx: () => ContractFixture): void {
  it('usage: records follow a VM through create → running → stopped → running → terminated, exactly as its history', async () => {
    const { store, uniq, enabledHost } = fx();
    const { user } = await store.users.create({ name: uniq('payer') });
    const g1 = await store.groups.create({ name: uniq('g') });
    const g2 = await store.groups.create({ name: uniq('g') });
    await store.groups.setMember(g1.id, user.id, false);
    await store.groups.setMember(g2.id, user.id, true);
    const host = await enabledHost(4, 4096, 10_000);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: user.id, spec: spec(2, 512, 100) });
    const go = (from: Parameters<Store['vms']['transition']>[1]['from'], to: Parameters<Store['vms']['transition']>[1]['to']) => store.vms.transition(vm.id, { from, to, action: `to-${to}` });
    await store.vms.bindToHost(vm.id, host.id, { cpus: 2, memoryMib: 512, diskMib: 100 });
    await go(['prolog'], 'boot');
    await go(['boot'], 'running');
    await go(['running'], 'epilog');
    await go(['epilog'], 'stopped');
    await store.vms.releaseFromHost(vm.id);
    await go(['stopped'], 'pending');
    await store.vms.bindToHost(vm.id, host.id, { cpus: 2, memoryMib: 512, diskMib: 100 });
    await go(['prolog'], 'boot');
    await go(['boot'], 'running');
    const open = await store.usage.ofVm(vm.id);
    assert.deepEqual(shape(open), await expectedFromHistory(store, vm.id));
    assert.deepEqual(open.map((r) => r.state), ['pending', 'prolog', 'boot', 'running', 'epilog', 'stopped', 'pending', 'prolog', 'boot', 'running']);
    assert.equal(open.at(-1)!.endedAt, null, 'the running record is open');
    await go(['running'], 'terminated');
    const records = await store.usage.ofVm(vm.id);
    assert.deepEqual(shape(records), await expectedFromHistory(store, vm.id));
    assert.equal(records.filter((r) => r.endedAt === null).length, 0, 'nothing open after terminate');
    // Both memberships may carry the same millisecond: the tie is broken by the group's id.
    const oldest = (await store.groups.membershipsOf(user.id)).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.groupId.localeCompare(b.groupId))[0]!;
    assert.ok([g1.id, g2.id].includes(oldest.groupId));
    for (const r of records) {
      assert.deepEqual([r.vmName, r.ownerId, r.vcpus, r.memoryMib, r.diskMib], [vm.name, user.id, 2, 512, 100]);
      assert.equal(r.groupId, oldest.groupId, 'charged to the owner\'s oldest membership');
    }
    // Every start is the previous end: no gap, no overlap.
    for (let k = 1; k < records.length; k++) assert.equal(records[k]!.startedAt, records[k - 1]!.endedAt);
  });

  it('usage: a refused transition writes no record; a spec change that changes the amounts splits the open record, one that does not writes nothing', async () => {
    const { store, owner, uniq } = fx();
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: spec(1, 256, 50) });
    await store.vms.transition(vm.id, { from: ['pending'], to: 'running', action: 'test' });
    const before = await store.usage.ofVm(vm.id);
    await rejectsWith(store.vms.transition(vm.id, { from: ['poweroff'], to: 'running', action: 'start' }), StaleStateError, 'STALE_STATE');
    await assert.rejects(store.vms.reviseSpec(vm.id, { action: 'volume-attach', spec: () => { throw new RangeError('no'); } }), RangeError);
    assert.deepEqual(await store.usage.ofVm(vm.id), before, 'refusals change nothing');
    await store.vms.reviseSpec(vm.id, { action: 'rename-ish', spec: (cur) => ({ ...cur.spec, note: 'same amounts' }) });
    assert.deepEqual(await store.usage.ofVm(vm.id), before, 'a spec change with the same amounts keeps the record');
    const revised = await store.vms.reviseSpec(vm.id, { action: 'volume-attach', spec: () => spec(1, 256, 50, [{ id: 'vol-1', slot: 0, sizeMiB: 30 }]) });
    const after = await store.usage.ofVm(vm.id);
    assert.equal(after.length, before.length + 1);
    const [old, cur] = after.slice(-2) as [UsageRecord, UsageRecord];
    assert.equal(old.endedAt, revised.vm.updatedAt, 'closed at the change');
    assert.deepEqual([cur.state, cur.startedAt, cur.endedAt, cur.diskMib], ['running', revised.vm.updatedAt, null, 80]);
    await store.vms.transition(vm.id, { from: ['running'], to: 'terminated', action: 'terminate' });
  });

  it('usage: list returns the records overlapping a span (of an owner, of a group); they survive a purge; a bad span is refused naming the field', async () => {
    const { store, uniq } = fx();
    const { user } = await store.users.create({ name: uniq('u') });
    const g = await store.groups.create({ name: uniq('g') });
    await store.groups.setMember(g.id, user.id, false);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: user.id, spec: spec(1, 128, 10) });
    await store.vms.transition(vm.id, { from: ['pending'], to: 'running', action: 'test' });
    await store.vms.transition(vm.id, { from: ['running'], to: 'terminated', action: 'terminate' });
    const mine = await store.usage.ofVm(vm.id);
    const span = { from: '2000-01-01T00:00:00.000Z', to: new Date(Date.now() + 3_600_000).toISOString() };
    assert.deepEqual((await store.usage.list({ ...span, ownerId: user.id })).map((r) => r.id), mine.map((r) => r.id));
    assert.deepEqual((await store.usage.list({ ...span, groupId: g.id })).map((r) => r.id), mine.map((r) => r.id));
    assert.deepEqual(await store.usage.list({ from: '2000-01-01T00:00:00.000Z', to: '2000-02-01T00:00:00.000Z', ownerId: user.id }), [], 'nothing that old');
    const last = mine.at(-1)!;
    assert.deepEqual((await store.usage.list({ from: last.endedAt!, to: span.to, ownerId: user.id })).map((r) => r.id), [], 'a record ending where the span starts is not in it');
    await store.vms.purgeTerminated({ before: span.to, ownerId: user.id });
    assert.deepEqual(await store.usage.ofVm(vm.id), mine, 'accounting keeps the records of a purged VM');
    await rejectsWith(store.usage.list({ from: 'yesterday', to: span.to }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'from'));
  });
}
