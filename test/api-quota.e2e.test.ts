import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { remoteRejects } from './support/remote-rejects.js';

// Issue 13's quotas through the real API: an in-process controller, no agent
// (VMs stay `pending`, which is all admission needs). A user at a limit is
// refused naming the resource; a group's limit holds across its members; no
// one but an admin sets a limit; bad input names the field and changes
// nothing; volumes are reached through the one Access point.

type Who = 'admin' | 'alice' | 'bob' | 'lead' | 'dan' | 'erin' | 'carol';
let root: string;
let controller: ControllerDaemon;
const tokens = {} as Record<Who, string>;
const api = (who: Who): NuboClient => new NuboClient(controller.url, tokens[who]);
const ten = (who: Who): TenancyClient => new TenancyClient(controller.url, tokens[who]);
const MIB = 2 ** 20;

async function quotaRows(): Promise<string> {
  const db = controller.store.db;
  return JSON.stringify({
    users: await db.selectFrom('user_quotas').selectAll().orderBy('user_id').execute(),
    groups: await db.selectFrom('group_quotas').selectAll().orderBy('group_id').execute(),
  });
}
const vmCount = async (): Promise<number> => (await controller.store.vms.list()).length;

/** The 409 QUOTA_EXCEEDED and its details. */
async function overQuota(p: Promise<unknown>, expect: Record<string, unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.status, 409, err.message);
    assert.equal(err.code, 'QUOTA_EXCEEDED', err.message);
    for (const [k, v] of Object.entries(expect)) assert.equal(err.details[k], v, `${k}: ${JSON.stringify(err.details)}`);
    assert.match(err.message, new RegExp(String(expect['resource'])));
    return true;
  });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-quota-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  tokens.admin = (await controller.bootstrapAdmin())!;
  for (const name of ['alice', 'bob', 'lead', 'dan', 'erin', 'carol'] as const) tokens[name] = (await ten('admin').createUser({ name })).token;
  await ten('admin').createGroup({ name: 'dev' });
  await ten('admin').addMember('dev', { user: 'alice' });
  await ten('admin').addMember('dev', { user: 'bob' });
  await ten('admin').addMember('dev', { user: 'lead', admin: true });
  await ten('admin').createGroup({ name: 'ops' });
  await ten('admin').addMember('ops', { user: 'dan' });
  await ten('admin').addMember('ops', { user: 'erin' });
  const adminId = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
  // The base image's virtual size (100 MiB) is each VM's disk charge.
  await controller.store.images.create({ name: 'base', ownerId: adminId, format: 'qcow2', sizeBytes: MIB, virtualSizeBytes: 100 * MIB, sha256: 'a'.repeat(64), path: join(root, 'base') });
  await api('admin').createTemplate({ name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'base' });
});

after(async () => {
  await controller.orchestrator.idle();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('a user at a limit is refused with QUOTA_EXCEEDED naming resource, limit, use and request; nothing is written; usage shows it', async () => {
  await ten('admin').setQuota({ user: 'alice' }, { vms: 2, vcpus: 3 });
  await api('alice').createVm({ template: 'tpl', name: 'a1' });
  const before = await vmCount();
  await overQuota(api('alice').createVm({ template: 'tpl', name: 'a2', vcpus: 3 }), { subject: 'user', subjectName: 'alice', resource: 'vcpus', limit: 3, used: 1, requested: 3 });
  await api('alice').createVm({ template: 'tpl', name: 'a2', vcpus: 2 });
  await overQuota(api('alice').createVm({ template: 'tpl', name: 'a3' }), { subject: 'user', resource: 'vms', limit: 2, used: 2, requested: 1 });
  assert.equal(await vmCount(), before + 1, 'only the VM that fitted was recorded');
  const q = await ten('alice').getQuota();
  assert.deepEqual(q.subject, { kind: 'user', id: q.subject.id, name: 'alice' });
  assert.deepEqual(q.usage, { vms: 2, vcpus: 3, memoryMiB: 128, diskMiB: 200, volumes: 0, images: 0, leases: 0 });
  assert.deepEqual(q.lines.find((l) => l.resource === 'vms'), { resource: 'vms', limit: 2, used: 2, percent: 100 });
  assert.deepEqual(q.lines.find((l) => l.resource === 'memoryMiB'), { resource: 'memoryMiB', limit: null, used: 128, percent: null });
  // Terminating frees the VM's share at once.
  const a1 = (await api('alice').listVms()).find((v) => v.name === 'a1')!;
  await api('alice').vmAction(a1.id, 'terminate');
  await controller.orchestrator.idle();
  await api('alice').createVm({ template: 'tpl', name: 'a3' });
});

test("a group's limit caps the sum over its members; a member reads it and their own line, the group's admin every member's", async () => {
  await ten('admin').setQuota({ group: 'ops' }, { memoryMiB: 128 });
  await api('dan').createVm({ template: 'tpl', name: 'd1' });
  await api('erin').createVm({ template: 'tpl', name: 'e1' });
  const before = await vmCount();
  await overQuota(api('dan').createVm({ template: 'tpl', name: 'd2' }), { subject: 'group', subjectName: 'ops', resource: 'memoryMiB', limit: 128, used: 128, requested: 64 });
  await overQuota(api('erin').createVm({ template: 'tpl', name: 'e2', memoryMiB: 64 }), { subject: 'group', resource: 'memoryMiB' });
  assert.equal(await vmCount(), before);
  const asAdmin = await ten('admin').getQuota({ group: 'ops' });
  assert.equal(asAdmin.usage.memoryMiB, 128);
  assert.deepEqual(asAdmin.members?.map((m) => [m.name, m.usage.vms]).sort(), [['dan', 1], ['erin', 1]]);
  assert.deepEqual((await ten('dan').getQuota({ group: 'ops' })).members?.map((m) => m.name), ['dan'], 'a member sees the total and their own line only');
  await ten('admin').setQuota({ group: 'dev' }, { volumes: 5 });
  await api('bob').createVm({ template: 'tpl', name: 'b1' });
  assert.deepEqual((await ten('lead').getQuota({ group: 'dev' })).members?.map((m) => m.name).sort(), ['alice', 'bob', 'lead']);
  assert.equal((await ten('lead').getQuota({ user: 'bob' })).usage.vms, 1, 'a group admin reads a member\'s quota');
});

test('12 concurrent creates against a limit of 3: exactly 3 VMs are admitted', async () => {
  await ten('admin').setQuota({ user: 'carol' }, { vms: 3 });
  const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => api('carol').createVm({ template: 'tpl', name: `c${i}` })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as RemoteError).code, 'QUOTA_EXCEEDED');
  assert.equal((await api('carol').listVms()).filter((v) => v.state !== 'terminated').length, 3);
});

test('no one but an admin sets a limit: not their own (403), not as group admin (403), not a stranger\'s (404); nothing changes', async () => {
  const before = await quotaRows();
  await remoteRejects(ten('alice').setQuota({ user: 'alice' }, { vms: 100 }), 403, 'FORBIDDEN');
  await remoteRejects(ten('alice').setQuota({ user: 'me' }, { vms: 100 }), 403, 'FORBIDDEN');
  await remoteRejects(ten('lead').setQuota({ user: 'alice' }, { vms: 100 }), 403, 'FORBIDDEN');
  await remoteRejects(ten('lead').setQuota({ group: 'dev' }, { vms: 100 }), 403, 'FORBIDDEN');
  await remoteRejects(ten('alice').setQuota({ group: 'dev' }, { vms: 100 }), 403, 'FORBIDDEN');
  await remoteRejects(ten('carol').setQuota({ user: 'alice' }, { vms: 100 }), 404, 'NOT_FOUND');
  await remoteRejects(ten('carol').getQuota({ user: 'alice' }), 404, 'NOT_FOUND');
  await remoteRejects(ten('carol').getQuota({ group: 'dev' }), 404, 'NOT_FOUND');
  await remoteRejects(ten('bob').getQuota({ user: 'alice' }), 404, 'NOT_FOUND', undefined, /not found/);
  assert.equal(await quotaRows(), before);
});

test('bad input is a 400 naming the field (negative, non-integer, a size with a unit, an unknown resource); an unknown user or group is 404; nothing changes', async () => {
  const before = await quotaRows();
  await remoteRejects(ten('admin').setQuota({ user: 'alice' }, { vms: -1 }), 400, 'VALIDATION_FAILED', 'vms');
  await remoteRejects(ten('admin').setQuota({ user: 'alice' }, { vcpus: 1.5 }), 400, 'VALIDATION_FAILED', 'vcpus');
  await remoteRejects(ten('admin').setQuota({ user: 'alice' }, { memoryMiB: '4G' as unknown as number }), 400, 'VALIDATION_FAILED', 'memoryMiB');
  await remoteRejects(ten('admin').setQuota({ group: 'dev' }, { cpus: 4 } as never), 400, 'VALIDATION_FAILED', undefined, /cpus/);
  await remoteRejects(ten('admin').setQuota({ user: 'nobody' }, { vms: 1 }), 404, 'NOT_FOUND');
  await remoteRejects(ten('admin').setQuota({ group: 'nogroup' }, { vms: 1 }), 404, 'NOT_FOUND');
  assert.equal(await quotaRows(), before);
  // null clears a limit; absent keeps it.
  const q = await ten('admin').setQuota({ user: 'alice' }, { vcpus: null });
  assert.deepEqual([q.limits.vms, q.limits.vcpus], [2, null]);
});

test('volumes: the quota counts them and their MiB; a group admin reaches members\' volumes through Access, a fellow member does not', async () => {
  await ten('admin').setQuota({ user: 'bob' }, { volumes: 1 });
  const v = await api('bob').createVolume({ name: 'data', sizeMiB: 64 });
  await overQuota(api('bob').createVolume({ name: 'more', sizeMiB: 8 }), { subject: 'user', resource: 'volumes', limit: 1, used: 1, requested: 1 });
  assert.equal((await ten('bob').getQuota()).usage.diskMiB, 100 + 64);
  assert.deepEqual((await api('lead').listVolumes()).map((x) => x.name), ['data'], 'the group admin lists the member\'s volume');
  assert.equal((await api('lead').getVolume(v.id)).owner, 'bob');
  assert.deepEqual(await api('alice').listVolumes(), []);
  await remoteRejects(api('alice').getVolume(v.id), 404, 'NOT_FOUND');
  await remoteRejects(api('alice').deleteVolume(v.id), 404, 'NOT_FOUND');
  await remoteRejects(api('carol').getVolume('data'), 404, 'NOT_FOUND');
  await api('lead').deleteVolume(v.id);
  assert.deepEqual(await api('bob').listVolumes(), []);
});
