import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../errors/validation-error.js';
import { CapacityError, ConflictError, ExhaustedError, NotFoundError, StaleStateError } from './store-errors.js';
import type { Host } from './repositories/hosts-repository.js';
import { count, rejectsWith, type ContractFixture } from './store-contract-kit.js';

/**
 * The concurrency half of the store contract: VM state compare-and-set,
 * capacity reservations under races, leases never shared. Registered inside
 * storeContract's suite; `fx` gives each case the store under test.
 */
export function vmAndLeaseContract(fx: () => ContractFixture): void {
    it('vms.transition: compare-and-set; a stale transition writes nothing', async () => {
      const { store, owner, uniq } = fx();
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      const failed = await store.vms.transition(vm.id, { from: ['pending'], to: 'failed', action: 'fail', reason: 'no host', patch: { stateReason: 'placement', spec: { x: 1 } } });
      assert.equal(failed.state, 'failed');
      assert.equal(failed.version, 1);
      assert.equal(failed.stateReason, 'placement');
      assert.deepEqual(failed.spec, { x: 1 });
      const [history, events, version] = [await count(store, 'vm_history'), await count(store, 'events'), failed.version];
      await rejectsWith(store.vms.transition(vm.id, { from: ['pending', 'running'], to: 'terminated', action: 'terminate' }), StaleStateError, 'STALE_STATE', (e) => {
        assert.equal(e.current, 'failed');
        assert.deepEqual(e.expected, ['pending', 'running']);
        assert.match(e.message, /it is failed/);
      });
      await rejectsWith(store.vms.transition(vm.id, { from: ['failed'], to: 'pending', action: 'resume', expectedVersion: 0 }), StaleStateError, 'STALE_STATE');
      await rejectsWith(store.vms.transition(vm.id, { from: ['failed'], to: 'exploded' as 'failed', action: 'x' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'to'));
      await rejectsWith(store.vms.transition('ghost', { from: ['pending'], to: 'failed', action: 'x' }), NotFoundError, 'NOT_FOUND');
      assert.equal(await count(store, 'vm_history'), history);
      assert.equal(await count(store, 'events'), events);
      const now = await store.vms.get(vm.id);
      assert.equal(now.version, version);
      assert.equal(now.stateReason, 'placement');
      const back = await store.vms.transition(vm.id, { from: ['failed'], to: 'pending', action: 'resume', expectedVersion: 1 });
      assert.equal(back.stateReason, null, 'the state reason is reset by a transition');
      assert.deepEqual(back.spec, { x: 1 }, 'the spec is kept unless patched');
      assert.deepEqual((await store.vms.history(vm.id)).map((h) => [h.fromState, h.toState, h.action, h.reason]), [
        [null, 'pending', 'create', null], ['pending', 'failed', 'fail', 'no host'], ['failed', 'pending', 'resume', null],
      ]);
    });

    it('vms.transition: the operation in flight is recorded, kept across steps, and cleared', async () => {
      const { store, owner, uniq } = fx();
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      assert.equal(vm.operation, null);
      const started = await store.vms.transition(vm.id, { from: ['pending'], to: 'epilog', action: 'terminate', patch: { operation: { action: 'terminate', from: 'pending' } } });
      assert.deepEqual(started.operation, { action: 'terminate', from: 'pending' });
      assert.deepEqual((await store.vms.get(vm.id)).operation, { action: 'terminate', from: 'pending' }, 'read back from the store');
      const step = await store.vms.transition(vm.id, { from: ['epilog'], to: 'failed', action: 'terminate', reason: 'disk busy' });
      assert.deepEqual(step.operation, { action: 'terminate', from: 'pending' }, 'a step without the field keeps it');
      const done = await store.vms.transition(vm.id, { from: ['failed'], to: 'terminated', action: 'terminate', patch: { operation: null } });
      assert.equal(done.operation, null);
      await rejectsWith(
        store.vms.transition(vm.id, { from: ['terminated'], to: 'failed', action: 'x', patch: { operation: { action: 'x', from: 'nowhere' as 'failed' } } }),
        ValidationError,
        'VALIDATION_FAILED',
      );
      assert.equal((await store.vms.get(vm.id)).state, 'terminated', 'nothing written');
    });

    it('vms.transition: of 10 concurrent transitions from the same state exactly one wins', async () => {
      const { store, owner, uniq } = fx();
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.vms.transition(vm.id, { from: ['pending'], to: i % 2 ? 'failed' : 'terminated', action: `a${i}` })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof StaleStateError, String(r.reason));
      const final = await store.vms.get(vm.id);
      assert.equal(final.version, 1);
      assert.equal(final.state, won[0]!.value.state);
      assert.equal((await store.vms.history(vm.id)).length, 2);
    });

    it('vms.bindToHost: 20 VMs race for a host that fits 5 — exactly 5 bound, reservations add up', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const host = await enabledHost(10, 5 * 1024, 50_000);
      const demand = { cpus: 2, memoryMib: 1024, diskMib: 1000 };
      const vms = await Promise.all(Array.from({ length: 20 }, () => store.vms.create({ name: uniq('race'), ownerId: owner.id })));
      const results = await Promise.allSettled(vms.map((vm) => store.vms.bindToHost(vm.id, host.id, demand)));
      const bound = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      assert.equal(bound.length, 5);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof CapacityError && r.reason.code === 'CAPACITY', String(r.reason));
      for (const vm of bound) {
        assert.equal(vm.state, 'prolog');
        assert.equal(vm.hostId, host.id);
        assert.deepEqual(vm.reserved, demand);
      }
      const h = await store.hosts.get(host.id);
      assert.deepEqual(h.reserved, { cpus: 10, memoryMib: 5120, diskMib: 5000 });
      assert.deepEqual(h.free, { cpus: 0, memoryMib: 0, diskMib: 45_000 });
      const onHost = await store.vms.list({ hostId: host.id });
      assert.equal(onHost.length, 5);
      assert.equal(onHost.reduce((s, v) => s + v.reserved.cpus, 0), h.reserved.cpus);
      for (const vm of vms) if (!bound.some((b) => b.id === vm.id)) assert.equal((await store.vms.get(vm.id)).state, 'pending');
    });

    it('vms.bindToHost: typed refusals write nothing; a custom capacity check decides', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const host = await enabledHost(4, 4096, 10_000);
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      const demand = { cpus: 1, memoryMib: 512, diskMib: 100 };
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, demand, () => 'cpu model mismatch'), CapacityError, 'CAPACITY', (e) => {
        assert.equal(e.reason, 'cpu model mismatch');
        assert.deepEqual(e.free, { cpus: 4, memoryMib: 4096, diskMib: 10_000 });
        // The message a person reads names the host by its name; the id stays in the details.
        assert.equal(e.hostId, host.id);
        assert.equal(e.message, `host ${host.name} cannot take 1 cpus, 512 MiB memory, 100 MiB disk (free 4 cpus, 4096 MiB memory, 10000 MiB disk): cpu model mismatch`);
      });
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, { cpus: 5, memoryMib: 1, diskMib: 1 }), CapacityError, 'CAPACITY', (e) => assert.match(e.reason, /cpus/));
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, { cpus: -1, memoryMib: 1, diskMib: 1 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cpus'));
      await rejectsWith(store.vms.bindToHost(vm.id, 'ghost', demand), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'host'));
      await store.hosts.setState(host.id, 'disabled');
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, demand), CapacityError, 'CAPACITY', (e) => assert.equal(e.reason, 'host is disabled'));
      await store.hosts.setState(host.id, 'enabled');
      assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      assert.equal((await store.vms.get(vm.id)).version, 0);
      let seen: Host | undefined;
      const bound = await store.vms.bindToHost(vm.id, host.id, demand, (h, d) => {
        seen = h;
        return h.free.cpus >= d.cpus || 'full';
      });
      assert.equal(seen?.id, host.id);
      assert.equal(bound.version, 1);
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, demand), StaleStateError, 'STALE_STATE', (e) => assert.equal(e.current, 'prolog'));
      assert.deepEqual((await store.hosts.get(host.id)).reserved, demand);
      assert.deepEqual((await store.vms.history(vm.id)).map((h) => [h.fromState, h.toState, h.action]).at(-1), ['pending', 'prolog', 'deploy']);
    });

    it('vms.releaseFromHost: returns the reservation exactly once, also under concurrency', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const host = await enabledHost(8, 8192, 10_000);
      const demand = { cpus: 3, memoryMib: 3000, diskMib: 700 };
      const a = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      const b = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      await store.vms.bindToHost(a.id, host.id, demand);
      await store.vms.bindToHost(b.id, host.id, demand);
      assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 6, memoryMib: 6000, diskMib: 1400 });
      const first = await store.vms.releaseFromHost(a.id, { reason: 'terminated' });
      assert.equal(first.released, true);
      assert.equal(first.vm.hostId, null);
      assert.deepEqual(first.vm.reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      assert.deepEqual((await store.hosts.get(host.id)).reserved, demand);
      const second = await store.vms.releaseFromHost(a.id);
      assert.equal(second.released, false);
      assert.equal(second.vm.version, first.vm.version, 'a second release writes nothing');
      assert.deepEqual((await store.hosts.get(host.id)).reserved, demand);
      const racing = await Promise.all(Array.from({ length: 5 }, () => store.vms.releaseFromHost(b.id)));
      assert.equal(racing.filter((r) => r.released).length, 1);
      assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      await rejectsWith(store.vms.releaseFromHost('ghost'), NotFoundError, 'NOT_FOUND');
    });

    it('vms.placeAgain: a VM in prolog back to pending in one write — reservation returned, unbound, spec and reason kept; stale calls write nothing', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const host = await enabledHost(8, 8192, 10_000);
      const demand = { cpus: 2, memoryMib: 1000, diskMib: 300 };
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: { a: 1 }, operation: { action: 'create', from: 'pending' } });
      const bound = await store.vms.bindToHost(vm.id, host.id, demand);
      const [history, events] = [await count(store, 'vm_history'), await count(store, 'events')];
      await rejectsWith(store.vms.placeAgain(vm.id, { expectedVersion: bound.version - 1, spec: { a: 2 }, reason: 'r' }), StaleStateError, 'STALE_STATE');
      await rejectsWith(store.vms.placeAgain(vm.id, { expectedVersion: bound.version, spec: { a: 2 }, reason: '' }), ValidationError, 'VALIDATION_FAILED');
      await rejectsWith(store.vms.placeAgain('ghost', { expectedVersion: 0, spec: {}, reason: 'r' }), NotFoundError, 'NOT_FOUND');
      assert.equal(await count(store, 'vm_history'), history);
      assert.equal(await count(store, 'events'), events);
      assert.deepEqual((await store.hosts.get(host.id)).reserved, demand, 'nothing given back by a refused call');
      const back = await store.vms.placeAgain(vm.id, { expectedVersion: bound.version, spec: { a: 2, avoidHosts: [host.id] }, reason: 'placed again: h unreachable' });
      assert.equal(back.state, 'pending');
      assert.equal(back.hostId, null);
      assert.equal(back.version, bound.version + 1);
      assert.equal(back.stateReason, 'placed again: h unreachable');
      assert.deepEqual(back.spec, { a: 2, avoidHosts: [host.id] });
      assert.deepEqual(back.reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      assert.deepEqual(back.operation, { action: 'create', from: 'pending' }, 'the operation in flight is kept');
      assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      const h = (await store.vms.history(vm.id)).at(-1)!;
      assert.deepEqual([h.fromState, h.toState, h.action, h.reason], ['prolog', 'pending', 'schedule', 'placed again: h unreachable']);
      const last = (await store.events.listSince(0, 10_000)).filter((e) => e.resourceId === vm.id).at(-1)!;
      assert.equal(last.kind, 'vm.state');
      assert.deepEqual({ ...last.data }, { from: 'prolog', to: 'pending', action: 'schedule', reason: 'placed again: h unreachable', version: back.version, releasedHostId: host.id, ...demand });
      // Exactly once: a second call (a retry that raced the first) finds the VM pending and writes nothing.
      await rejectsWith(store.vms.placeAgain(vm.id, { expectedVersion: back.version, spec: {}, reason: 'r' }), StaleStateError, 'STALE_STATE');
      assert.deepEqual((await store.hosts.get(host.id)).reserved, { cpus: 0, memoryMib: 0, diskMib: 0 });
      const again = await store.vms.bindToHost(vm.id, host.id, demand);
      assert.equal(again.state, 'prolog', 'placed like any pending VM');
    });

    it('vms.bindings: the host of every VM that is not terminated, and nothing else', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const host = await enabledHost(8, 8192, 10_000);
      const [bound, free, ended] = await Promise.all([0, 1, 2].map(() => store.vms.create({ name: uniq('vm'), ownerId: owner.id })));
      await store.vms.bindToHost(bound!.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 1 });
      await store.vms.bindToHost(ended!.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 1 });
      await store.vms.transition(ended!.id, { from: ['prolog'], to: 'terminated', action: 'terminate' });
      const mine = new Map((await store.vms.bindings()).filter((b) => [bound!.id, free!.id, ended!.id].includes(b.id)).map((b) => [b.id, b.hostId]));
      assert.deepEqual(mine, new Map([[bound!.id, host.id], [free!.id, null]]));
    });

    it('vms.stampsOnHost: id, state, version, last change and whether an operation holds it, of the VMs bound to the host only', async () => {
      const { store, owner, uniq, enabledHost } = fx();
      const [host, other] = [await enabledHost(8, 8192, 10_000), await enabledHost(8, 8192, 10_000)];
      const [a, b, c] = await Promise.all([0, 1, 2].map(() => store.vms.create({ name: uniq('vm'), ownerId: owner.id })));
      await store.vms.bindToHost(a!.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 1 });
      await store.vms.bindToHost(b!.id, host.id, { cpus: 1, memoryMib: 128, diskMib: 1 });
      await store.vms.bindToHost(c!.id, other.id, { cpus: 1, memoryMib: 128, diskMib: 1 });
      await store.vms.transition(b!.id, { from: ['prolog'], to: 'prolog', action: 'create', patch: { operation: { action: 'create', from: 'pending' } } });
      const full = await Promise.all([a!.id, b!.id].sort().map((id) => store.vms.get(id)));
      assert.deepEqual(await store.vms.stampsOnHost(host.id), full.map((v) => ({ id: v.id, state: v.state, version: v.version, updatedAt: v.updatedAt, busy: v.operation !== null })));
      assert.deepEqual((await store.vms.stampsOnHost(host.id)).map((x) => x.busy), full.map((v) => v.id === b!.id));
      const before = (await store.vms.stampsOnHost(host.id)).find((x) => x.id === a!.id)!;
      await store.vms.transition(a!.id, { from: ['prolog'], to: 'boot', action: 'create' });
      const after = (await store.vms.stampsOnHost(host.id)).find((x) => x.id === a!.id)!;
      assert.ok(after.version > before.version && after.state === 'boot', 'a change shows in the stamp');
      assert.deepEqual(await store.vms.stampsOnHost('no-such-host'), []);
    });

    it('leases: 100 concurrent allocations get 100 distinct addresses, the lowest first', async () => {
      const { store, owner, uniq } = fx();
      const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.80.0/24', gateway: '198.18.80.1' });
      const vms = await Promise.all(Array.from({ length: 100 }, () => store.vms.create({ name: uniq('nic'), ownerId: owner.id })));
      const leases = await Promise.all(vms.map((vm) => store.leases.allocate(net.id, vm.id)));
      const addresses = new Set(leases.map((l) => l.address));
      assert.equal(addresses.size, 100);
      assert.equal(new Set(leases.map((l) => l.mac)).size, 100);
      const expected = Array.from({ length: 100 }, (_, i) => `198.18.80.${i + 2}`);
      assert.deepEqual([...addresses].sort(), [...expected].sort());
      for (const [i, l] of leases.entries()) {
        assert.equal(l.vmId, vms[i]!.id);
        assert.equal(l.state, 'leased');
      }
      assert.equal((await store.leases.list(net.id, { state: 'leased' })).length, 100);
      const vm0 = vms[0]!;
      const own = await store.leases.listByVm(vm0.id);
      assert.deepEqual(own.map((l) => l.address), [leases[0]!.address]);
      assert.equal(await store.leases.release(vm0.id), 1);
      assert.equal(await store.leases.release(vm0.id), 0, 'release is idempotent');
      const again = await store.leases.allocate(net.id, vm0.id);
      assert.equal(again.address, leases[0]!.address, 'the freed address is the lowest free one');
    });

    it('leases: hold takes an address out of allocation; an exhausted range is a typed error', async () => {
      const { store, owner, uniq } = fx();
      const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.90.0/29', gateway: '198.18.90.1' });
      assert.equal((await store.leases.list(net.id)).length, 5);
      const held = await store.leases.hold(net.id, '198.18.90.2');
      assert.equal(held.state, 'held');
      await rejectsWith(store.leases.hold(net.id, '198.18.90.2'), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'address'));
      await rejectsWith(store.leases.hold(net.id, '198.18.90.1'), NotFoundError, 'NOT_FOUND');
      const vms = await Promise.all(Array.from({ length: 6 }, () => store.vms.create({ name: uniq('ex'), ownerId: owner.id })));
      const results = await Promise.allSettled(vms.map((vm) => store.leases.allocate(net.id, vm.id)));
      const got = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.address);
      assert.deepEqual(got.sort(), ['198.18.90.3', '198.18.90.4', '198.18.90.5', '198.18.90.6']);
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(lost.length, 2);
      for (const r of lost) assert.ok(r.reason instanceof ExhaustedError && r.reason.code === 'EXHAUSTED', String(r.reason));
      await rejectsWith(store.leases.allocate(net.id, vms[0]!.id), ExhaustedError, 'EXHAUSTED');
      await rejectsWith(store.leases.allocate('ghost', vms[0]!.id), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'network'));
      await rejectsWith(store.leases.allocate(net.id, 'ghost'), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'vm'));
      await store.leases.unhold(net.id, '198.18.90.2');
      const last = vms.find((vm) => results[vms.indexOf(vm)]?.status === 'rejected')!;
      assert.equal((await store.leases.allocate(net.id, last.id)).address, '198.18.90.2');
    });
}
