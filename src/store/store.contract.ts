import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from './open-store.js';
import { CapacityError, ConflictError, ExhaustedError, NotFoundError, StaleStateError } from './store-errors.js';
import type { JsonObject } from './store-context.js';
import type { Host } from './repositories/hosts-repository.js';
import type { User } from './repositories/users-repository.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/** Asserts a rejection with the given class and stable code, then runs `check` on it. */
async function rejectsWith<E extends ErrorClass>(p: Promise<unknown>, cls: E, code: string, check?: (e: InstanceType<E>) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    assert.equal((err as unknown as { code: string }).code, code);
    check?.(err as InstanceType<E>);
    return true;
  });
}

const SHA = 'a'.repeat(64);

/** Counts rows of a table: "nothing was written" checks. */
async function count(store: Store, table: 'users' | 'hosts' | 'images' | 'templates' | 'vms' | 'vm_history' | 'networks' | 'leases' | 'events' | 'migrations' | 'datastores'): Promise<number> {
  const r = await store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * One suite over every store dialect (after Hono's router contract tests):
 * what the controller relies on — typed errors, compare-and-set, atomic
 * reservations and leases, ordered events — must hold on SQLite exactly as
 * on PostgreSQL. `open` returns a store over the same database each time.
 */
export function storeContract(name: string, open: () => Promise<Store>, cleanup: () => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let owner: User;
    let n = 0;
    const uniq = (prefix: string): string => `${prefix}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

    const enabledHost = async (cpus: number, memoryMib: number, diskMib: number): Promise<Host> => {
      const h = await store.hosts.register({ name: uniq('h'), agentUrl: 'http://198.18.1.1:7001', agentToken: 't', totalCpus: cpus, totalMemoryMib: memoryMib, totalDiskMib: diskMib });
      return store.hosts.setState(h.id, 'enabled');
    };

    before(async () => {
      store = await open();
      owner = (await store.users.create({ name: uniq('owner') })).user;
    });
    after(async () => {
      await store?.close();
      await cleanup();
    });

    it('applies migrations idempotently (a second open changes nothing)', async () => {
      const applied = (s: Store) => sql<{ name: string }>`select name from schema_migration order by name`.execute(s.db).then((r) => r.rows);
      const before = await applied(store);
      const second = await open();
      try {
        const afterRows = await applied(second);
        assert.deepEqual(afterRows, before);
        assert.equal(afterRows.length, 1);
        assert.equal((await second.users.get(owner.id)).name, owner.name);
      } finally {
        await second.close();
      }
      assert.equal((await store.users.get(owner.id)).id, owner.id, 'the first store still works');
    });

    it('users: create returns the token once, findByToken finds by its hash, typed errors', async () => {
      const { user, token } = await store.users.create({ name: uniq('alice'), role: 'admin', sshKeys: ['ssh-ed25519 AAAA alice@x'] });
      assert.equal(user.role, 'admin');
      assert.deepEqual(user.sshKeys, ['ssh-ed25519 AAAA alice@x']);
      assert.match(token, /^nubo_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await store.users.findByToken(token), user);
      assert.equal(await store.users.findByToken(`${token}x`), undefined);
      assert.equal(await store.users.findByToken(''), undefined);
      const raw = await store.db.selectFrom('users').select('token_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.notEqual(raw.token_hash, token);
      assert.match(raw.token_hash, /^[0-9a-f]{64}$/);
      assert.deepEqual(await store.users.get(user.id), user);
      assert.ok((await store.users.list()).some((u) => u.id === user.id));
      await rejectsWith(store.users.create({ name: user.name }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
      await rejectsWith(store.users.get('nope'), NotFoundError, 'NOT_FOUND', (e) => assert.deepEqual([e.resource, e.id], ['user', 'nope']));
      const users = await count(store, 'users');
      await rejectsWith(store.users.create({ name: '' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'name'));
      await rejectsWith(store.users.create({ name: uniq('x'), role: 'root' as 'admin' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'role'));
      assert.equal(await count(store, 'users'), users);
    });

    it('hosts: register upserts by name, setState records an event, heartbeats round-trip JSON', async () => {
      const name = uniq('host');
      const h = await store.hosts.register({
        name, agentUrl: 'http://198.18.1.2:7001', agentToken: 'secret', cpuModel: 'qemu64', cpuFlags: ['sse2', 'avx'],
        totalCpus: 8, totalMemoryMib: 16384, totalDiskMib: 100_000, labels: { zone: 'a' },
      });
      assert.equal(h.state, 'init');
      assert.deepEqual(h.free, { cpus: 8, memoryMib: 16384, diskMib: 100_000 });
      assert.deepEqual(h.cpuFlags, ['sse2', 'avx']);
      assert.deepEqual(h.labels, { zone: 'a' });
      const again = await store.hosts.register({ name, agentUrl: 'http://198.18.1.2:7002', agentToken: 'secret2', totalCpus: 16, totalMemoryMib: 32768, totalDiskMib: 100_000 });
      assert.equal(again.id, h.id);
      assert.equal(again.agentUrl, 'http://198.18.1.2:7002');
      assert.equal(again.total.cpus, 16);
      assert.equal(again.createdAt, h.createdAt);
      const seq = await store.events.lastSeq();
      const enabled = await store.hosts.setState(h.id, 'enabled', 'first heartbeat');
      assert.equal(enabled.state, 'enabled');
      const ev = (await store.events.listSince(seq, 10)).filter((e) => e.resourceId === h.id);
      assert.deepEqual(ev.map((e) => [e.kind, e.data]), [['host.state', { from: 'init', to: 'enabled', reason: 'first heartbeat' }]]);
      assert.ok((await store.hosts.list({ state: 'enabled' })).some((x) => x.id === h.id));
      assert.ok(!(await store.hosts.list({ state: 'offline' })).some((x) => x.id === h.id));
      const usage: JsonObject = { cpu: { used: 1.25, steal: 0 }, memory: { usedMib: 1024 }, vms: ['a', 'b'], ok: true, note: null };
      const at = new Date('2025-03-01T10:00:00.000Z');
      const hb = await store.hosts.recordHeartbeat(h.id, usage, at);
      assert.deepEqual(hb.usage, usage);
      assert.equal(hb.lastHeartbeatAt, at.toISOString());
      assert.deepEqual((await store.hosts.get(h.id)).usage, usage);
      await rejectsWith(store.hosts.get('missing'), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.hosts.setState('missing', 'enabled'), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.hosts.recordHeartbeat('missing', {}), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.hosts.setState(h.id, 'broken' as 'error'), ValidationError, 'VALIDATION_FAILED');
      const hosts = await count(store, 'hosts');
      await rejectsWith(
        store.hosts.register({ name: uniq('bad'), agentUrl: 'http://198.18.1.3:7001', agentToken: 't', totalCpus: -1, totalMemoryMib: 1, totalDiskMib: 1 }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'totalCpus'),
      );
      await rejectsWith(
        store.hosts.register({ name: uniq('bad'), agentUrl: 'not a url', agentToken: 't', totalCpus: 1, totalMemoryMib: 1.5, totalDiskMib: 1 }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.deepEqual(e.issues.map((i) => i.field).sort(), ['agentUrl', 'totalMemoryMib']),
      );
      assert.equal(await count(store, 'hosts'), hosts);
    });

    it('datastores: create/get/list/delete with typed errors', async () => {
      const host = await enabledHost(1, 1, 1);
      const local = await store.datastores.create({ name: uniq('ds'), kind: 'local', hostId: host.id, path: '/var/lib/nubo/ds0' });
      const shared = await store.datastores.create({ name: uniq('ds'), kind: 'shared', path: '/srv/nfs' });
      assert.equal(shared.hostId, null);
      assert.deepEqual(await store.datastores.get(local.id), local);
      assert.deepEqual((await store.datastores.list({ hostId: host.id })).map((d) => d.id), [local.id]);
      await rejectsWith(store.datastores.create({ name: local.name, kind: 'shared', path: '/x' }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
      await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'local', path: '/x' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'hostId'));
      await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'local', hostId: 'nohost', path: '/x' }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'host'));
      await rejectsWith(store.datastores.create({ name: uniq('ds'), kind: 'shared', path: 'relative' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'path'));
      await store.datastores.delete(shared.id);
      await rejectsWith(store.datastores.get(shared.id), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.datastores.delete(shared.id), NotFoundError, 'NOT_FOUND');
    });

    it('images: unique per owner, sizes beyond 2^32, bad input rejected with nothing written', async () => {
      const other = (await store.users.create({ name: uniq('bob') })).user;
      const name = uniq('img');
      const big = 5 * 2 ** 40;
      const img = await store.images.create({ name, ownerId: owner.id, format: 'qcow2', sizeBytes: 300 * 2 ** 20, virtualSizeBytes: big, sha256: SHA, path: '/images/x.qcow2' });
      assert.equal(img.state, 'ready');
      assert.deepEqual(await store.images.get(img.id), img);
      assert.equal((await store.images.get(img.id)).virtualSizeBytes, big);
      await rejectsWith(
        store.images.create({ name, ownerId: owner.id, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/y' }),
        ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'),
      );
      const theirs = await store.images.create({ name, ownerId: other.id, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/y' });
      assert.deepEqual((await store.images.list({ ownerId: other.id })).map((i) => i.id), [theirs.id]);
      assert.deepEqual((await store.images.findByName(owner.id, name))?.id, img.id);
      const images = await count(store, 'images');
      await rejectsWith(
        store.images.create({ name: uniq('neg'), ownerId: owner.id, format: 'raw', sizeBytes: -1, virtualSizeBytes: 1, sha256: SHA, path: '/z' }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sizeBytes'),
      );
      await rejectsWith(
        store.images.create({ name: uniq('fmt'), ownerId: owner.id, format: 'vmdk' as 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: 'xyz', path: '/z' }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.deepEqual(e.issues.map((i) => i.field).sort(), ['format', 'sha256']),
      );
      await rejectsWith(
        store.images.create({ name: uniq('own'), ownerId: 'ghost', format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/z' }),
        NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'user'),
      );
      assert.equal(await count(store, 'images'), images);
      assert.equal((await store.images.setState(img.id, 'deleting')).state, 'deleting');
      await store.images.delete(img.id);
      await rejectsWith(store.images.get(img.id), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.images.delete(img.id), NotFoundError, 'NOT_FOUND');
    });

    it('templates: JSON documents round-trip exactly; deleting one leaves its VMs', async () => {
      const disks: JsonObject[] = [{ image: 'nubo-tiny', size: '1G', bus: 'virtio', opts: { cache: 'none', discard: true } }];
      const nics: JsonObject[] = [{ network: 'lab', model: 'virtio', ip: null }];
      const context: JsonObject = { userData: '#!/bin/sh\necho "héllo ✓" > /tmp/x\n', keys: ['k1', 'k2'], n: 2 ** 53 - 1, f: -0.125, deep: { a: [[1], [2, { b: 'c' }]] } };
      const t = await store.templates.create({ name: uniq('tpl'), ownerId: owner.id, vcpus: 2, memoryMib: 256, disks, nics, context, requirements: 'cpuModel == "qemu64"' });
      const got = await store.templates.get(t.id);
      assert.deepEqual(got, t);
      assert.deepEqual(got.disks, disks);
      assert.deepEqual(got.nics, nics);
      assert.deepEqual(got.context, context);
      assert.ok((await store.templates.list({ ownerId: owner.id })).some((x) => x.id === t.id));
      await rejectsWith(store.templates.create({ name: t.name, ownerId: owner.id, vcpus: 1, memoryMib: 64 }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
      const templates = await count(store, 'templates');
      await rejectsWith(store.templates.create({ name: uniq('tpl'), ownerId: owner.id, vcpus: 0, memoryMib: -64 }), ValidationError, 'VALIDATION_FAILED', (e) =>
        assert.deepEqual(e.issues.map((i) => i.field).sort(), ['memoryMib', 'vcpus']));
      await rejectsWith(
        store.templates.create({ name: uniq('tpl'), ownerId: owner.id, vcpus: 1, memoryMib: 64, context: { bad: Number.NaN } }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.match(e.field, /^context/),
      );
      assert.equal(await count(store, 'templates'), templates);
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, templateId: t.id });
      await store.templates.delete(t.id);
      await rejectsWith(store.templates.get(t.id), NotFoundError, 'NOT_FOUND');
      assert.equal((await store.vms.get(vm.id)).templateId, null);
      await rejectsWith(store.vms.create({ name: uniq('vm'), ownerId: owner.id, templateId: t.id }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'template'));
    });

    it('networks: create materialises leases, typed errors, delete refused while leased', async () => {
      const net = await store.networks.create({ name: uniq('net'), cidr: '198.18.64.0/24', gateway: '198.18.64.1', dns: ['198.18.0.1'], vlan: 100 });
      assert.deepEqual(await store.networks.get(net.id), net);
      assert.deepEqual(net.dns, ['198.18.0.1']);
      const leases = await store.leases.list(net.id);
      assert.equal(leases.length, 253);
      assert.equal(leases[0]?.address, '198.18.64.2');
      assert.equal(leases[0]?.mac, '52:54:00:12:40:02');
      assert.equal(leases.at(-1)?.address, '198.18.64.254');
      await rejectsWith(store.networks.create({ name: net.name, cidr: '198.18.65.0/24' }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'name'));
      const nets = await count(store, 'networks');
      const rows = await count(store, 'leases');
      await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.18.64.0/33' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cidr'));
      await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.18.64.5/24' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'cidr'));
      await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.18.64.0/24', gateway: '198.18.99.1' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'gateway'));
      await rejectsWith(store.networks.create({ name: uniq('net'), cidr: '198.18.64.0/24', vlan: 5000 }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'vlan'));
      assert.equal(await count(store, 'networks'), nets);
      assert.equal(await count(store, 'leases'), rows);
      const ranged = await store.networks.create({ name: uniq('net'), cidr: '198.18.66.0/24', range: { first: '198.18.66.10', last: '198.18.66.19' } });
      assert.equal((await store.leases.list(ranged.id)).length, 10);
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      await store.leases.allocate(ranged.id, vm.id);
      await rejectsWith(store.networks.delete(ranged.id), ConflictError, 'CONFLICT');
      assert.equal(await store.leases.release(vm.id), 1);
      await store.networks.delete(ranged.id);
      await rejectsWith(store.networks.get(ranged.id), NotFoundError, 'NOT_FOUND');
      assert.deepEqual(await store.leases.list(ranged.id), []);
      await rejectsWith(store.networks.delete(ranged.id), NotFoundError, 'NOT_FOUND');
    });

    it('vms: create in pending with history and event; list filters', async () => {
      const seq = await store.events.lastSeq();
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id, spec: { vcpus: 1, memoryMib: 128, disks: [{ size: 1 }] }, stateReason: 'waiting for placement' });
      assert.equal(vm.state, 'pending');
      assert.equal(vm.version, 0);
      assert.equal(vm.stateReason, 'waiting for placement');
      assert.deepEqual(await store.vms.get(vm.id), vm);
      assert.deepEqual((await store.vms.history(vm.id)).map((h) => [h.fromState, h.toState, h.action]), [[null, 'pending', 'create']]);
      const ev = (await store.events.listSince(seq, 100)).filter((e) => e.resourceId === vm.id);
      assert.deepEqual(ev.map((e) => e.kind), ['vm.created']);
      assert.ok((await store.vms.list({ ownerId: owner.id, state: 'pending' })).some((v) => v.id === vm.id));
      assert.ok(!(await store.vms.list({ ownerId: owner.id, state: ['running', 'failed'] })).some((v) => v.id === vm.id));
      assert.deepEqual(await store.vms.list({ state: [] }), []);
      await rejectsWith(store.vms.create({ name: uniq('vm'), ownerId: 'ghost' }), NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'user'));
      await rejectsWith(store.vms.get('ghost'), NotFoundError, 'NOT_FOUND');
    });

    it('vms.transition: compare-and-set; a stale transition writes nothing', async () => {
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
      const host = await enabledHost(4, 4096, 10_000);
      const vm = await store.vms.create({ name: uniq('vm'), ownerId: owner.id });
      const demand = { cpus: 1, memoryMib: 512, diskMib: 100 };
      await rejectsWith(store.vms.bindToHost(vm.id, host.id, demand, () => 'cpu model mismatch'), CapacityError, 'CAPACITY', (e) => {
        assert.equal(e.reason, 'cpu model mismatch');
        assert.deepEqual(e.free, { cpus: 4, memoryMib: 4096, diskMib: 10_000 });
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

    it('leases: 100 concurrent allocations get 100 distinct addresses, the lowest first', async () => {
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

    it('events: ordered, resumable with listSince, JSON data round-trips', async () => {
      const start = await store.events.lastSeq();
      const data: JsonObject = { s: 'ünïcødé "quoted" \\ back', arr: [1, 2.5, null, false, { k: [] }], big: 2 ** 53 - 1 };
      const first = await store.events.append({ kind: 'test.one', resource: 'test', resourceId: 'r1', data });
      assert.ok(first.seq > start);
      assert.deepEqual(first.data, data);
      await Promise.all(Array.from({ length: 30 }, (_, i) => store.events.append({ kind: 'test.many', resource: 'test', resourceId: `r${i}` })));
      const all = await store.events.listSince(start, 1000);
      assert.equal(all.length, 31);
      for (let i = 1; i < all.length; i++) assert.ok(all[i]!.seq > all[i - 1]!.seq, 'seq strictly increasing');
      assert.deepEqual(all[0], first);
      const page = await store.events.listSince(start, 10);
      assert.deepEqual(page, all.slice(0, 10));
      assert.deepEqual(await store.events.listSince(page.at(-1)!.seq, 5), all.slice(10, 15));
      assert.deepEqual(await store.events.listSince(await store.events.lastSeq(), 10), []);
      const events = await count(store, 'events');
      await rejectsWith(store.events.append({ kind: '', resource: 'x', resourceId: 'y' }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'kind'));
      await rejectsWith(store.events.listSince(-1, 10), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'seq'));
      assert.equal(await count(store, 'events'), events);
    });

    it('migrations: create, stages journalled, finish once, listUnfinished; one running per VM', async () => {
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
      await rejectsWith(store.migrations.finish(m.id, { state: 'failed' }), StaleStateError, 'STALE_STATE', (e) => assert.equal(e.current, 'succeeded'));
      await rejectsWith(store.migrations.updateStage(m.id, 'commit'), StaleStateError, 'STALE_STATE');
      await rejectsWith(store.migrations.get('ghost'), NotFoundError, 'NOT_FOUND');
      const next = await store.migrations.create({ vmId: vm.id, kind: 'cold', sourceHostId: b.id, destHostId: a.id });
      const aborted = await store.migrations.finish(next.id, { state: 'aborted', reason: 'destination unreachable' });
      assert.equal(aborted.reason, 'destination unreachable');
      assert.deepEqual((await store.migrations.list({ vmId: vm.id })).map((x) => x.state), ['succeeded', 'aborted']);
    });
  });
}
