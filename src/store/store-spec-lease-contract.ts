import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { ConflictError, ExhaustedError, NotFoundError, StaleStateError } from './store-errors.js';
import type { Store } from './open-store.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';
import type { Vm } from './repositories/vms-repository.js';

/**
 * vms.reviseSpec: a VM's spec and one of its leases change together or not
 * at all (NICs attached and detached). Registered inside storeContract's suite.
 */
export function specLeaseContract(fx: () => ContractFixture): void {
  /** Everything a refused revision must leave as it was. */
  const snapshot = async (store: Store, vm: Vm, networkId: string): Promise<unknown> => ({
    vm: await store.vms.get(vm.id),
    leases: await store.leases.list(networkId),
    events: await count(store, 'events'),
    history: await count(store, 'vm_history'),
  });

  it('vms.reviseSpec: a lease (given address or lowest free) and the spec in one transaction; a release frees it; a no-op writes nothing', async () => {
    const { store, owner, uniq } = fx();
    const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.96.0/29', gateway: '198.18.96.1' });
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: { nics: [] } });
    const running = await store.vms.transition(vm.id, { from: ['pending'], to: 'running', action: 'test' });
    const events0 = await count(store, 'events');

    const a = await store.vms.reviseSpec(vm.id, {
      action: 'nic-attach',
      from: ['running', 'poweroff'],
      take: { networkId: net.id, address: '198.18.96.5' },
      spec: (cur, lease) => ({ ...cur.spec, nics: [lease?.address ?? 'none'] }),
    });
    assert.equal(a.lease?.address, '198.18.96.5');
    assert.equal(a.lease?.vmId, vm.id);
    assert.equal(a.lease?.state, 'leased');
    assert.equal(a.lease?.mac, '52:54:00:12:60:05');
    assert.deepEqual(a.vm.spec, { nics: ['198.18.96.5'] });
    assert.equal(a.vm.version, running.version + 1);
    assert.equal(a.vm.state, 'running', 'the state is not touched');
    assert.equal((await store.leases.get(net.id, '198.18.96.5')).state, 'leased');
    const last = (await store.events.listSince((await store.events.lastSeq()) - 1))[0];
    assert.equal(await count(store, 'events'), events0 + 1);
    assert.equal(last?.kind, 'vm.spec');
    assert.deepEqual(last?.data['leased'], { networkId: net.id, address: '198.18.96.5' });

    const b = await store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id }, spec: (cur, lease) => ({ nics: [...(cur.spec['nics'] as string[]), lease!.address] }) });
    assert.equal(b.lease?.address, '198.18.96.2', 'the lowest free address');
    assert.deepEqual(b.vm.spec, { nics: ['198.18.96.5', '198.18.96.2'] }, 'the spec function sees the spec as it is now');
    assert.deepEqual((await store.leases.listByVm(vm.id)).map((l) => l.address).sort(), ['198.18.96.2', '198.18.96.5']);

    const r = await store.vms.reviseSpec(vm.id, { action: 'nic-detach', release: { networkId: net.id, address: '198.18.96.5' }, spec: () => ({ nics: ['198.18.96.2'] }) });
    assert.equal(r.released, true);
    assert.equal(r.lease, undefined);
    assert.equal((await store.leases.get(net.id, '198.18.96.5')).state, 'free');
    assert.equal((await store.leases.get(net.id, '198.18.96.5')).vmId, null);
    assert.deepEqual(r.vm.spec, { nics: ['198.18.96.2'] });

    const before = await snapshot(store, vm, net.id);
    const again = await store.vms.reviseSpec(vm.id, { action: 'nic-detach', release: { networkId: net.id, address: '198.18.96.5' } });
    assert.equal(again.released, false, 'releasing an address the VM does not hold');
    assert.deepEqual(await snapshot(store, vm, net.id), before, 'a revision that changes nothing writes nothing');
  });

  it('vms.reviseSpec: refusals — state, address not of the network, leased or held, exhausted, unknown network, the spec function throwing — write nothing', async () => {
    const { store, owner, uniq } = fx();
    const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.97.0/30', gateway: '198.18.97.1' });
    assert.deepEqual((await store.leases.list(net.id)).map((l) => l.address), ['198.18.97.2']);
    const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: { keep: true } });
    const other = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
    const before = await snapshot(store, vm, net.id);
    const spec = (): { x: number } => ({ x: 1 });

    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', from: ['running', 'poweroff'], take: { networkId: net.id }, spec }), StaleStateError, 'STALE_STATE', (e) => {
      assert.equal(e.current, 'pending');
      assert.match(e.message, /nic-attach/);
    });
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id, address: '198.18.97.1' }, spec }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'lease'));
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id, address: '198.18.99.9' }, spec }), NotFoundError, 'NOT_FOUND');
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: 'ghost' }, spec }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'network'));
    await rejectsWith(store.vms.reviseSpec('ghost', { action: 'nic-attach', take: { networkId: net.id }, spec }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'vm'));
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: '', take: { networkId: net.id }, spec }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'action'));
    await assert.rejects(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id }, spec: () => { throw new Error('no room for it'); } }), /no room for it/);
    assert.deepEqual(await snapshot(store, vm, net.id), before);

    await store.leases.allocate(net.id, other.id);
    const taken = await snapshot(store, vm, net.id);
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id, address: '198.18.97.2' }, spec }), ConflictError, 'CONFLICT', (e) => {
      assert.equal(e.field, 'address');
      assert.match(e.message, /leased/);
    });
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id }, spec }), ExhaustedError, 'EXHAUSTED');
    await store.vms.reviseSpec(vm.id, { action: 'nic-detach', release: { networkId: net.id, address: '198.18.97.2' } });
    assert.deepEqual(await snapshot(store, vm, net.id), taken, 'another VM\'s lease is not released');
    await store.leases.release(other.id);
    await store.leases.hold(net.id, '198.18.97.2');
    await rejectsWith(store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id, address: '198.18.97.2' }, spec }), ConflictError, 'CONFLICT', (e) => assert.match(e.message, /held/));
    await store.leases.unhold(net.id, '198.18.97.2');
  });

  it('vms.reviseSpec: 10 VMs race for one address — exactly one gets it', async () => {
    const { store, owner, uniq } = fx();
    const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.98.0/28', gateway: '198.18.98.1' });
    const vms = await Promise.all(Array.from({ length: 10 }, () => store.vms.create({ name: uniq('race'), ownerId: owner.id })));
    const results = await Promise.allSettled(vms.map((vm) => store.vms.reviseSpec(vm.id, { action: 'nic-attach', take: { networkId: net.id, address: '198.18.98.7' }, spec: (_v, l) => ({ address: l!.address }) })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ConflictError, String(r.reason));
    const lease = await store.leases.get(net.id, '198.18.98.7');
    assert.equal(lease.vmId, won[0]!.value.vm.id);
    const specs = await Promise.all(vms.map(async (vm) => (await store.vms.get(vm.id)).spec));
    assert.equal(specs.filter((s) => s['address'] === '198.18.98.7').length, 1, 'only the winner\'s spec changed');
  });
}
