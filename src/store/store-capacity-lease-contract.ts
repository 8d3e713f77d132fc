import { it } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError, StaleStateError, CapacityError } from './store-errors.js';
import { rejectsWith, type ContractFixture } from './store-contract-kit.js';

/** Capacity leases (migration 0010): rows, plan, journaled step, VMs, timeline and events; a suspended lease VM's reservation off and back. Registered inside storeContract's suite. */
export function capacityLeaseContract(fx: () => ContractFixture): void {
  it('capacity leases: created with a timeline and an event, updated with both, listed live, their VMs recorded', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const host = await enabledHost(4, 4096, 10_000);
    const id = uniq('lease');
    const plan = { placements: [{ hostId: host.id, vms: 2 }], segments: [{ kind: 'prepare' as const, from: 10, to: 15 }, { kind: 'run' as const, from: 15, to: 75 }], cursor: 0 };
    const seq = await store.capacityLeases.nextSeq();
    const before = await store.events.listSince(0, 10_000);
    const l = await store.capacityLeases.create({ id, ownerId: owner.id, kind: 'ar', state: 'scheduled', seq, submitS: 1, startS: 15, durationS: 60, vmCount: 2, vcpus: 1, memoryMib: 128, templateId: 't', preemptible: false, plan });
    assert.deepEqual([l.kind, l.state, l.startS, l.remainingS, l.preemptible, l.pendingStep], ['ar', 'scheduled', 15, 60, false, null]);
    assert.deepEqual(l.plan, plan);
    assert.equal(await store.capacityLeases.nextSeq(), seq + 1);
    const step = { kind: 'prepare' as const, placements: plan.placements, at: 10 };
    const u = await store.capacityLeases.update(id, { state: 'preparing', pendingStep: step, plan: { ...plan, cursor: 1 } }, 'state');
    assert.deepEqual([u.state, u.pendingStep, u.plan.cursor], ['preparing', step, 1]);
    assert.ok((await store.capacityLeases.list({ live: true })).some((x) => x.id === id));
    assert.ok((await store.capacityLeases.list({ ownerId: owner.id })).some((x) => x.id === id));
    await store.capacityLeases.setVm({ leaseId: id, idx: 0, vmId: 'vm-a', hostId: host.id });
    await store.capacityLeases.setVm({ leaseId: id, idx: 0, vmId: 'vm-a', hostId: 'elsewhere' });
    assert.deepEqual(await store.capacityLeases.vms(id), [{ leaseId: id, idx: 0, vmId: 'vm-a', hostId: 'elsewhere' }], 'moved, not doubled');
    assert.ok((await store.capacityLeases.liveVmIds()).has('vm-a'));
    const shutdown = { kind: 'shutdown' as const, placements: plan.placements, at: 75 };
    const r = await store.capacityLeases.record(id, { plan: { ...plan, cursor: 2 }, pendingStep: shutdown }, [{ kind: 'planned' }, { kind: 'step', detail: { step: 'shutdown' } }]);
    assert.deepEqual([r.plan.cursor, r.pendingStep], [2, shutdown], 'the plan and the step it begins, written together');
    await store.capacityLeases.update(id, { state: 'done', pendingStep: null, reason: null }, 'state');
    assert.ok(!(await store.capacityLeases.list({ live: true })).some((x) => x.id === id), 'a done lease with nothing journaled is not live');
    assert.ok(!(await store.capacityLeases.liveVmIds()).has('vm-a'));
    assert.deepEqual((await store.capacityLeases.timeline(id)).map((e) => [e.kind, e.detail['state']]), [['created', 'scheduled'], ['state', 'preparing'], ['planned', 'preparing'], ['step', 'preparing'], ['state', 'done']]);
    const events = (await store.events.listSince(before.at(-1)?.seq ?? 0, 10_000)).filter((e) => e.resourceId === id);
    assert.deepEqual(events.map((e) => e.kind), ['lease.created', 'lease.state', 'lease.planned', 'lease.step', 'lease.state']);
    assert.equal(events[3]?.data['step'], 'shutdown');
    assert.ok(events.every((e) => e.resource === 'lease' && e.data['ownerId'] === owner.id), 'each event names the owner, for the audience');
    await rejectsWith(store.capacityLeases.get(uniq('nope')), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.capacityLeases.update(uniq('nope'), { state: 'done' }, 'state'), NotFoundError, 'NOT_FOUND');
  });

  it('capacity leases: a suspended VM gives its reservation back and takes it again (once each), refused in other states or without room', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const host = await enabledHost(2, 1024, 10_000);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: {} });
    const d = { cpus: 1, memoryMib: 512, diskMib: 10 };
    await store.vms.bindToHost(vm.id, host.id, d);
    await rejectsWith(store.capacityLeases.releaseSuspendedVm(vm.id), StaleStateError, 'STALE_STATE');
    for (const [from, to] of [['prolog', 'boot'], ['boot', 'running'], ['running', 'saving'], ['saving', 'suspended']] as const) await store.vms.transition(vm.id, { from: [from], to, action: 'x' });
    assert.equal(await store.capacityLeases.releaseSuspendedVm(vm.id), true);
    assert.equal(await store.capacityLeases.releaseSuspendedVm(vm.id), false, 'a second release changes nothing');
    assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
    assert.equal((await store.vms.get(vm.id)).hostId, host.id, 'still bound to the host that has its files');
    const other = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: {} });
    await store.vms.bindToHost(other.id, host.id, { cpus: 2, memoryMib: 1024, diskMib: 10 });
    await rejectsWith(store.capacityLeases.reserveSuspendedVm(vm.id, d), CapacityError, 'CAPACITY');
    assert.deepEqual((await store.vms.get(vm.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 }, 'refused: nothing reserved');
    await store.vms.releaseFromHost(other.id);
    assert.equal(await store.capacityLeases.reserveSuspendedVm(vm.id, d), true);
    assert.equal(await store.capacityLeases.reserveSuspendedVm(vm.id, d), false);
    assert.deepEqual((await store.hosts.get(host.id)).reserved, d);
  });
}
