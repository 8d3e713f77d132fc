import { it } from 'node:test';
import assert from 'node:assert/strict';
import { QuotaExceededError } from '../core/quota/quota-exceeded-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from './open-store.js';
import { CapacityError, StaleStateError } from './store-errors.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { Vm } from './repositories/vms-repository.js';

/** vms.resize: a powered-off VM's size, its charge, its host's reservation and its usage change together or not at all. */
export function vmResizeContract(fx: () => ContractFixture): void {
  const spec = { agent: { vcpus: 1, memoryMiB: 128, disk: { image: 'x' } }, demand: { vcpus: 1, memoryMiB: 128, diskMiB: 64, cpuModel: 'qemu64' } };
  const charge = { vcpus: 1, memoryMib: 128, diskMib: 64 };

  /** A VM bound to `hostId` (1 vCPU, 128 MiB reserved), then in `state`. */
  const vmOn = async (store: Store, ownerId: string, name: string, hostId: string, state: 'poweroff' | 'running' | 'suspended'): Promise<Vm> => {
    const vm = await store.vms.create({ name, ownerId, spec, charge });
    await store.vms.bindToHost(vm.id, hostId, { cpus: 1, memoryMib: 128, diskMib: 64 });
    return store.vms.transition(vm.id, { from: ['prolog'], to: state, action: 'test' });
  };
  /** Everything a refused resize must leave as it was. */
  const snapshot = async (store: Store, vm: Vm): Promise<unknown> => ({
    vm: await store.vms.get(vm.id),
    host: vm.hostId === null ? null : (await store.hosts.get(vm.hostId)).reserved,
    events: await count(store, 'events'),
    usage: await store.db.selectFrom('usage_intervals').selectAll().where('vm_id', '=', vm.id).execute(),
  });

  it('vms.resize: spec, charge, host reservation and usage record change in one transaction; the same size writes nothing; shrinking frees room', async () => {
    const { store, owner, uniq, enabledHost } = fx();
    const host = await enabledHost(4, 1024, 1024);
    const vm = await vmOn(store, owner.id, uniq('vm'), host.id, 'poweroff');
    const events0 = await count(store, 'events');

    const grown = await store.vms.resize(vm.id, { vcpus: 2, memoryMiB: 512 });
    assert.equal(grown.changed, true);
    assert.deepEqual([grown.vm.spec['agent'], grown.vm.spec['demand']], [{ ...spec.agent, vcpus: 2, memoryMiB: 512 }, { ...spec.demand, vcpus: 2, memoryMiB: 512 }]);
    assert.equal(grown.vm.version, vm.version + 1);
    assert.equal(grown.vm.state, 'poweroff');
    assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 2, memoryMib: 512, diskMib: 64 }, 'the host keeps the new size for it');
    const row = await store.db.selectFrom('vms').select(['charged_vcpus', 'charged_memory_mib', 'reserved_cpus', 'reserved_memory_mib']).where('id', '=', vm.id).executeTakeFirstOrThrow();
    assert.deepEqual([row.charged_vcpus, Number(row.charged_memory_mib), row.reserved_cpus, Number(row.reserved_memory_mib)], [2, 512, 2, 512]);
    const usage = await store.db.selectFrom('usage_intervals').selectAll().where('vm_id', '=', vm.id).orderBy('id').execute();
    assert.deepEqual(usage.map((u) => [u.state, u.vcpus, Number(u.memory_mib), u.ended_at === null]).slice(-2), [['poweroff', 1, 128, false], ['poweroff', 2, 512, true]]);
    assert.equal(await count(store, 'events'), events0 + 1);
    const last = (await store.events.listSince((await store.events.lastSeq()) - 1))[0];
    assert.equal(last?.kind, 'vm.spec');
    assert.deepEqual([last?.data['action'], last?.data['from'], last?.data['to']], ['resize', { vcpus: 1, memoryMiB: 128 }, { vcpus: 2, memoryMiB: 512 }]);

    const before = await snapshot(store, grown.vm);
    assert.equal((await store.vms.resize(vm.id, { vcpus: 2, memoryMiB: 512 })).changed, false);
    assert.deepEqual(await snapshot(store, grown.vm), before, 'a resize to the size it has writes nothing');

    await store.vms.resize(vm.id, { vcpus: 1, memoryMiB: 64 });
    assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 1, memoryMib: 64, diskMib: 64 });
  });

  it('vms.resize: refusals — not powered off, a quota, the host\'s room, a bad size — write nothing', async () => {
    const { store, uniq, enabledHost } = fx();
    const user = (await store.users.create({ name: uniq('sizer') })).user;
    const host = await enabledHost(2, 512, 1024);
    const running = await vmOn(store, user.id, uniq('vm'), host.id, 'running');
    const suspended = await vmOn(store, user.id, uniq('vm'), host.id, 'suspended');
    for (const v of [running, suspended]) {
      const before = await snapshot(store, v);
      await rejectsWith(store.vms.resize(v.id, { vcpus: 2, memoryMiB: 256 }), StaleStateError, 'STALE_STATE', (e) => assert.deepEqual([e.current, e.expected], [v.state, ['poweroff']]));
      assert.deepEqual(await snapshot(store, v), before);
    }
    await store.vms.transition(running.id, { from: ['running'], to: 'poweroff', action: 'test' });
    const off = await store.vms.transition(suspended.id, { from: ['suspended'], to: 'poweroff', action: 'test' });
    const before = await snapshot(store, off);

    await store.quotas.setLimits({ kind: 'user', id: user.id }, { memoryMiB: 300 });
    await rejectsWith(store.vms.resize(off.id, { vcpus: 1, memoryMiB: 256 }), QuotaExceededError, 'QUOTA_EXCEEDED', (e) => assert.equal(e.resource, 'memoryMiB'));
    assert.deepEqual(await snapshot(store, off), before, 'over the quota: nothing changed');
    await store.quotas.setLimits({ kind: 'user', id: user.id }, { memoryMiB: null });

    // The host holds 2 × 128 MiB of its 512: 384 MiB more for one VM is more than it has.
    await rejectsWith(store.vms.resize(off.id, { vcpus: 1, memoryMiB: 512 }), CapacityError, 'CAPACITY', (e) => assert.match(e.reason, /memoryMib/));
    await rejectsWith(store.vms.resize(off.id, { vcpus: 3, memoryMiB: 128 }), CapacityError, 'CAPACITY', (e) => assert.match(e.reason, /cpus/));
    assert.deepEqual(await snapshot(store, off), before, 'no room on its host: nothing changed');

    await assert.rejects(store.vms.resize(off.id, { vcpus: 0, memoryMiB: 128 }), (e: unknown) => e instanceof ValidationError && /vcpus/.test(e.message));
    await assert.rejects(store.vms.resize(off.id, { vcpus: 1, memoryMiB: 1.5 }), (e: unknown) => e instanceof ValidationError && /memoryMiB/.test(e.message));
    assert.deepEqual(await snapshot(store, off), before, 'a bad size: nothing changed');
  });
}
