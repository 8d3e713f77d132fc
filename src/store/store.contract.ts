import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from './open-store.js';
import { ConflictError, NotFoundError } from './store-errors.js';
import type { JsonObject } from './store-context.js';
import type { Host } from './repositories/hosts-repository.js';
import type { User } from './repositories/users-repository.js';
import { SHA, count, rejectsWith } from './store-contract-kit.js';
import { vmAndLeaseContract } from './store-vm-contract.js';
import { specLeaseContract } from './store-spec-lease-contract.js';
import { volumeContract } from './store-volume-contract.js';
import { purgeContract } from './store-purge-contract.js';
import { tenancyContract } from './store-tenancy-contract.js';
import { migrationContract } from './store-migration-contract.js';
import { quotaContract } from './store-quota-contract.js';
import { usageContract } from './store-usage-contract.js';
import { capacityLeaseContract } from './store-capacity-lease-contract.js';
import { accessKeyContract } from './store-access-key-contract.js';
import { cloudContract } from './store-cloud-contract.js';
import { vmResizeContract } from './store-vm-resize-contract.js';
import { clusterContract } from './store-cluster-contract.js';
import { datastoreContract } from './store-datastore-contract.js';
import { eventContract } from './store-event-contract.js';
import { hostContract } from './store-host-contract.js';

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
        assert.deepEqual(afterRows.map((r) => r.name), ['0001-initial', '0002-migration-reservation', '0003-volumes', '0004-host-overcommit-network-bridge', '0005-events-at-index', '0006-tenancy', '0007-controller-leadership', '0008-quotas', '0009-usage', '0010-capacity-leases', '0011-migration-planner', '0012-ha', '0013-drs-scaling-groups', '0014-access-keys-s3', '0015-ec2', '0017-system-image-bucket', '0021-host-degraded', '0022-migration-queue-forced', '0028-clusters', '0029-clouds', '0030-s3-object-parts', '0031-occi-mixins', '0032-cloud-migrations', '0034-datastores-volume-clusters', '0035-vms-owner-name-index', '0036-image-min-memory']);
        assert.equal((await second.users.get(owner.id)).name, owner.name);
      } finally {
        await second.close();
      }
      assert.equal((await store.users.get(owner.id)).id, owner.id, 'the first store still works');
    });

    it('users: setSshKeys replaces one user\'s keys; bad keys change nothing', async () => {
      const { user } = await store.users.create({ name: uniq('kim'), sshKeys: ['ssh-ed25519 AAAA old'] });
      const other = (await store.users.create({ name: uniq('lee'), sshKeys: ['ssh-rsa BBBB lee'] })).user;
      const set = await store.users.setSshKeys(user.id, ['ssh-ed25519 CCCC a', 'ssh-rsa DDDD b']);
      assert.deepEqual(set.sshKeys, ['ssh-ed25519 CCCC a', 'ssh-rsa DDDD b']);
      assert.deepEqual(await store.users.get(user.id), set);
      await rejectsWith(store.users.setSshKeys(user.id, ['ssh-ed25519 EEEE', 'ssh-rsa AAAA\nssh-rsa BBBB']), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sshKeys.1'));
      await rejectsWith(store.users.setSshKeys(user.id, Array.from({ length: 33 }, (_, i) => `ssh-ed25519 AAAA k${i}`)), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sshKeys'));
      await rejectsWith(store.users.setSshKeys('nope', []), NotFoundError, 'NOT_FOUND', (e) => assert.deepEqual([e.resource, e.id], ['user', 'nope']));
      assert.deepEqual((await store.users.get(user.id)).sshKeys, set.sshKeys, 'a refused change changes nothing');
      assert.deepEqual((await store.users.setSshKeys(user.id, [])).sshKeys, []);
      assert.deepEqual(await store.users.get(other.id), other);
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
      // Keys must be ones the agent's config drive takes: one line each, at most 32.
      await rejectsWith(store.users.create({ name: uniq('k'), sshKeys: ['ssh-ed25519 AAAA a', 'ssh-rsa AAAA\nssh-rsa BBBB'] }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sshKeys.1'));
      await rejectsWith(store.users.create({ name: uniq('k'), sshKeys: Array.from({ length: 33 }, (_, i) => `ssh-ed25519 AAAA k${i}`) }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'sshKeys'));
      assert.equal(await count(store, 'users'), users);
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
      await store.hosts.recordHeartbeat(h.id, usage, at);
      const hb = await store.hosts.get(h.id);
      assert.deepEqual(hb.usage, usage);
      assert.equal(hb.lastHeartbeatAt, at.toISOString());
      await rejectsWith(store.hosts.get('missing'), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.hosts.setState('missing', 'enabled'), NotFoundError, 'NOT_FOUND');
      await rejectsWith(store.hosts.recordHeartbeat('missing', {}), NotFoundError, 'NOT_FOUND');
      // Many hosts' beats in one write: each its own time; the data only where given; unknown ids skipped; past one statement's 500 hosts.
      const other = await store.hosts.register({ name: uniq('host'), agentUrl: 'http://198.18.1.4:7001', agentToken: 't', totalCpus: 1, totalMemoryMib: 1, totalDiskMib: 1 });
      const [at1, at2] = [new Date('2025-03-01T10:00:05.000Z'), new Date('2025-03-01T10:00:07.000Z')];
      const ghosts = Array.from({ length: 999 }, (_, i) => ({ id: `ghost-${i}`, at: at1 }));
      const written = await store.hosts.recordHeartbeats([...ghosts.slice(0, 600), { id: h.id, at: at1 }, ...ghosts.slice(600), { id: other.id, at: at2, usage: { load: 2 } }]);
      assert.deepEqual([...written].sort(), [h.id, other.id].sort(), 'the hosts written, not the unknown ids');
      const [b1, b2] = [await store.hosts.get(h.id), await store.hosts.get(other.id)];
      assert.deepEqual([b1.lastHeartbeatAt, b1.usage], [at1.toISOString(), usage], 'no data given: the stored data stays');
      assert.deepEqual([b2.lastHeartbeatAt, b2.usage], [at2.toISOString(), { load: 2 }]);
      // Two records of one host: the later time, and the data of the later one that has data.
      const at3 = new Date('2025-03-01T10:00:09.000Z');
      await store.hosts.recordHeartbeats([{ id: other.id, at: at3, usage: { load: 3 } }, { id: other.id, at: at2 }]);
      const b3 = await store.hosts.get(other.id);
      assert.deepEqual([b3.lastHeartbeatAt, b3.usage], [at3.toISOString(), { load: 3 }]);
      assert.equal((await store.hosts.recordHeartbeats([])).size, 0);
      await rejectsWith(store.hosts.recordHeartbeats([{ id: other.id, at: at3, usage: { n: Number.NaN } }]), ValidationError, 'VALIDATION_FAILED');
      assert.deepEqual((await store.hosts.get(other.id)).usage, { load: 3 }, 'refused data changes nothing');
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
      // The least memory its guest boots with: the floor unless said (64), kept as said.
      assert.equal(img.minMemoryMib, 64);
      const hungry = await store.images.create({ name: uniq('hungry'), ownerId: owner.id, format: 'kernel', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/k', minMemoryMib: 96 });
      assert.equal((await store.images.get(hungry.id)).minMemoryMib, 96);
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
        store.images.create({ name: uniq('starved'), ownerId: owner.id, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/z', minMemoryMib: 16 }),
        ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'minMemoryMib'),
      );
      await rejectsWith(
        store.images.create({ name: uniq('own'), ownerId: 'ghost', format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: SHA, path: '/z' }),
        NotFoundError, 'NOT_FOUND', (e) => assert.equal(e.resource, 'user'),
      );
      assert.equal(await count(store, 'images'), images);
      // movePath (an image file moved into the object store): only from the path the image still has.
      assert.equal(await store.images.movePath(theirs.id, '/not-its-path', '/s3/a'), false);
      assert.equal((await store.images.get(theirs.id)).path, '/y');
      assert.equal(await store.images.movePath(theirs.id, '/y', '/s3/b'), true);
      assert.equal((await store.images.get(theirs.id)).path, '/s3/b');
      assert.equal(await store.images.movePath('ghost', '/y', '/s3/c'), false);
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
      assert.deepEqual(await store.templates.find(t.id), t);
      assert.equal(await store.templates.find(t.name), undefined, 'a name is not an id: nothing found, nothing thrown');
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
      // The context document is replaced whole (the burst flag lives there); a bad one is refused, nothing written.
      const changed = await store.templates.setContext(t.id, { ...context, burst: 'burst-1' });
      assert.deepEqual((await store.templates.get(t.id)).context, { ...context, burst: 'burst-1' });
      assert.deepEqual(changed, await store.templates.get(t.id));
      await rejectsWith(store.templates.setContext(t.id, { bad: Number.NaN }), ValidationError, 'VALIDATION_FAILED', (e) => assert.match(e.field, /^context/));
      assert.equal((await store.templates.get(t.id)).context['burst'], 'burst-1');
      await rejectsWith(store.templates.setContext('no-such-template', {}), NotFoundError, 'NOT_FOUND');
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

    it('vms: an id chosen by the creator (a UUID) is the VM\'s; a taken one is CONFLICT naming id, and nothing is written', async () => {
      const id = randomUUID();
      const vm = await store.vms.create({ id, name: uniq('vm'), ownerId: owner.id });
      assert.equal(vm.id, id);
      assert.deepEqual(await store.vms.get(id), vm);
      const vms = await count(store, 'vms');
      const events = await store.events.lastSeq();
      await rejectsWith(store.vms.create({ id, name: uniq('vm'), ownerId: owner.id }), ConflictError, 'CONFLICT', (e) => assert.equal(e.field, 'id'));
      await rejectsWith(store.vms.create({ id: 'not-a-uuid', name: uniq('vm'), ownerId: owner.id }), ValidationError, 'VALIDATION_FAILED', (e) => assert.equal(e.field, 'id'));
      assert.equal(await count(store, 'vms'), vms);
      assert.equal(await store.events.lastSeq(), events);
    });

    vmAndLeaseContract(() => ({ store, owner, uniq, enabledHost }));
    specLeaseContract(() => ({ store, owner, uniq, enabledHost }));
    volumeContract(() => ({ store, owner, uniq, enabledHost }));
    purgeContract(() => ({ store, owner, uniq, enabledHost }));
    tenancyContract(() => ({ store, owner, uniq, enabledHost }));
    quotaContract(() => ({ store, owner, uniq, enabledHost }));

    hostContract(() => ({ store, owner, uniq, enabledHost }));
    eventContract(() => ({ store, owner, uniq, enabledHost }));
    migrationContract(() => ({ store, owner, uniq, enabledHost }));
    usageContract(() => ({ store, owner, uniq, enabledHost }));
    capacityLeaseContract(() => ({ store, owner, uniq, enabledHost }));
    accessKeyContract(() => ({ store, owner, uniq, enabledHost }));
    cloudContract(() => ({ store, owner, uniq, enabledHost }));
    vmResizeContract(() => ({ store, owner, uniq, enabledHost }));
    clusterContract(() => ({ store, owner, uniq, enabledHost }));
    datastoreContract(() => ({ store, owner, uniq, enabledHost }));
  });
}
