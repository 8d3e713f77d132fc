import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { LeaseClient } from '../src/client/lease-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { remoteRejects } from './support/remote-rejects.js';

// Quota-aware lease admission through the real API (issue 15): an in-process
// controller run with `admission: quota-aware`, two hosts that exist only in
// its store (advance reservations an hour or more ahead begin no step, so no
// agent is needed). A lease that would take its owner, or a group of theirs,
// past a vms/vcpus/memoryMiB limit is refused 409 LEASE_REJECTED naming the
// quota, and nothing is written; VMs outside leases count too.

let root: string;
let controller: ControllerDaemon;
const tokens: Record<string, string> = {};
const leasesOf = (who: string): LeaseClient => new LeaseClient(controller.url, tokens[who]!);
const ten = (): TenancyClient => new TenancyClient(controller.url, tokens['admin']!);
const MIB = 2 ** 20;
const hour = (n: number): string => new Date((Math.ceil(Date.now() / 1000) + n * 3600) * 1000).toISOString();

/** Leases, their timelines and the event log: what a refusal must leave as it was. */
async function written(): Promise<string> {
  const db = controller.store.db;
  const n = async (t: 'capacity_leases' | 'capacity_lease_events' | 'events'): Promise<number> => Number((await db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return JSON.stringify([await n('capacity_leases'), await n('capacity_lease_events'), await n('events')]);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-lease-quota-'));
  controller = await ControllerDaemon.start({
    dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }),
    leases: { policies: { admission: 'quota-aware' }, tickMs: 0 },
  });
  tokens['admin'] = (await controller.bootstrapAdmin())!;
  for (const name of ['ana', 'ben']) tokens[name] = (await ten().createUser({ name })).token;
  await ten().createGroup({ name: 'devs' });
  await ten().addMember('devs', { user: 'ana' });
  await ten().addMember('devs', { user: 'ben' });
  const adminId = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
  await controller.store.images.create({ name: 'base', ownerId: adminId, format: 'qcow2', sizeBytes: MIB, virtualSizeBytes: 100 * MIB, sha256: 'a'.repeat(64), path: join(root, 'base') });
  await new NuboClient(controller.url, tokens['admin']).createTemplate({ name: 'tpl', vcpus: 1, memoryMiB: 512, image: 'base' });
  for (const name of ['h1', 'h2']) {
    const h = await controller.store.hosts.register({ name, agentUrl: `http://127.0.0.1:9/${name}`, agentToken: 't'.repeat(20), totalCpus: 4, totalMemoryMib: 4096, totalDiskMib: 100_000 });
    await controller.store.hosts.setState(h.id, 'enabled');
  }
  // The lease service reads the hosts on its tick (none by itself here: tickMs 0).
  await controller.leases.tick();
});

after(async () => {
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test("a lease past its owner's vms quota is refused 409 naming the quota; the owner's other VMs count; nothing is written", async () => {
  await ten().setQuota({ user: 'ana' }, { vms: 3 });
  const first = await leasesOf('ana').create({ type: 'ar', start: hour(1), durationS: 600, template: 'tpl', count: 2 });
  assert.equal(first.state, 'scheduled');
  const before = await written();
  await remoteRejects(leasesOf('ana').create({ type: 'ar', start: hour(2), durationS: 600, template: 'tpl', count: 2 }), 409, 'LEASE_REJECTED', undefined,
    /quota exceeded: user ana may have 3 vms; 2 in use, 2 more requested \(admission policy quota-aware\)/);
  assert.equal(await written(), before, 'no lease, no timeline entry, no event');
  // One VM of hers outside leases (no agent: it stays pending, and counts): now one more lease VM is too many.
  await new NuboClient(controller.url, tokens['ana']!).createVm({ template: 'tpl', name: 'plain' });
  // Its drive (which finds no host and says so in the event log) runs after the create's answer: settled first, so
  // that only what the refused lease would write is compared.
  await controller.orchestrator.idle();
  const before2 = await written();
  await remoteRejects(leasesOf('ana').create({ type: 'ar', start: hour(3), durationS: 600, template: 'tpl' }), 409, 'LEASE_REJECTED', undefined, /user ana may have 3 vms; 3 in use, 1 more requested/);
  assert.equal(await written(), before2);
  assert.deepEqual((await leasesOf('ana').list()).map((l) => l.id), [first.id]);
});

test("a group's memory quota holds over all its members' leases and VMs: the member who would pass it is refused naming the group", async () => {
  await ten().setQuota({ user: 'ana' }, { vms: 10 });
  await ten().setQuota({ group: 'devs' }, { memoryMiB: 3072 });
  // ana holds 2 × 512 MiB in her lease and 512 in her plain VM; ben adds 1024.
  await leasesOf('ben').create({ type: 'ar', start: hour(4), durationS: 600, template: 'tpl', count: 2 });
  const before = await written();
  await remoteRejects(leasesOf('ana').create({ type: 'ar', start: hour(5), durationS: 600, template: 'tpl', count: 2 }), 409, 'LEASE_REJECTED', undefined,
    /quota exceeded: group devs may have 3072 memoryMiB; 2560 in use, 1024 more requested/);
  await remoteRejects(leasesOf('ben').create({ type: 'be', durationS: 600, template: 'tpl', count: 2 }), 409, 'LEASE_REJECTED', undefined, /group devs may have 3072 memoryMiB/);
  assert.equal(await written(), before);
  // Within it, a lease still passes.
  assert.equal((await leasesOf('ana').create({ type: 'ar', start: hour(6), durationS: 600, template: 'tpl', count: 1 })).state, 'scheduled');
});

test('a lease whose VMs would get less memory than their image needs is refused 400 on memoryMiB at once, not when it starts; nothing is written', async () => {
  const adminId = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
  await controller.store.images.create({ name: 'big', ownerId: adminId, format: 'qcow2', sizeBytes: MIB, virtualSizeBytes: 100 * MIB, sha256: 'b'.repeat(64), path: join(root, 'big'), minMemoryMib: 256 });
  await new NuboClient(controller.url, tokens['admin']!).createTemplate({ name: 'tpl-big', vcpus: 1, memoryMiB: 512, image: 'big' });
  const admin = leasesOf('admin');
  const before = await written();
  await remoteRejects(admin.create({ type: 'ar', start: hour(7), durationS: 600, template: 'tpl-big', memoryMiB: 128 }), 400, 'VALIDATION_FAILED', 'memoryMiB',
    /128 MiB is below the 256 MiB that image big needs to boot/);
  await remoteRejects(admin.create({ type: 'be', durationS: 600, template: 'tpl-big', memoryMiB: 255 }), 400, 'VALIDATION_FAILED', 'memoryMiB', /image big/);
  assert.equal(await written(), before, 'no lease, no timeline entry, no event');
  // At the minimum, and with the template's own size, it is admitted.
  assert.equal((await admin.create({ type: 'ar', start: hour(7), durationS: 600, template: 'tpl-big', memoryMiB: 256 })).state, 'scheduled');
  assert.equal((await admin.create({ type: 'ar', start: hour(8), durationS: 600, template: 'tpl-big' })).state, 'scheduled');
});
