import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';

// How the API finds what a path names (issue 11, item 13): short ids, names of
// terminated VMs, deletes by name, host deletion and the purge of terminated
// VMs. No agent runs: hosts stay `init` and VMs stay `pending` unless a test
// binds one in the store.

interface Answer { status: number; body: Record<string, unknown> & { error?: { code: string; message: string; details: Record<string, unknown> } } }

let root: string;
let controller: ControllerDaemon;
let admin: string;
let bob: string;

async function call(method: string, path: string, o: { token?: string; body?: unknown } = {}): Promise<Answer> {
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${o.token ?? admin}`, ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (/^[[{]/.test(text) ? JSON.parse(text) : {}) as Answer['body'] };
}

async function ok(method: string, path: string, o: { token?: string; body?: unknown } = {}, status = 200): Promise<Record<string, unknown>> {
  const a = await call(method, path, o);
  assert.equal(a.status, status, `${method} ${path}: ${JSON.stringify(a.body)}`);
  return a.body;
}

async function terminated(id: string): Promise<void> {
  await ok('POST', `/api/v1/vms/${id}/actions/terminate`);
  await controller.orchestrator.idle();
  for (let i = 0; i < 100 && (await controller.store.vms.get(id)).state !== 'terminated'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await controller.store.vms.get(id)).state, 'terminated');
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-refs-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, imageImportDir: root, logger: pino({ level: 'silent' }) });
  admin = (await controller.bootstrapAdmin())!;
  bob = (await controller.store.users.create({ name: 'bob' })).token;
  await writeFile(join(root, 'disk.raw'), Buffer.alloc(1 << 20));
  await ok('POST', '/api/v1/hosts', { body: { name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: 'h1-agent-token-0123456789' } }, 201);
  await ok('POST', '/api/v1/images', { body: { name: 'disk', path: join(root, 'disk.raw') } }, 201);
  await ok('POST', '/api/v1/templates', { body: { name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'disk' } }, 201);
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('a terminated VM is found by its name; a live VM of that name comes first', async () => {
  const old = await ok('POST', '/api/v1/vms', { body: { template: 'tpl', name: 'gone' } }, 201);
  await terminated(old['id'] as string);
  const shown = await ok('GET', '/api/v1/vms/gone');
  assert.equal(shown['id'], old['id']);
  assert.equal(shown['state'], 'terminated');
  const fresh = await ok('POST', '/api/v1/vms', { body: { template: 'tpl', name: 'gone' } }, 201);
  assert.equal((await ok('GET', '/api/v1/vms/gone'))['id'], fresh['id']);
  await terminated(fresh['id'] as string);
  assert.equal((await ok('GET', '/api/v1/vms/gone'))['id'], fresh['id'], 'the most recently terminated');
});

test('every resource is found by the start of its id; too short a start is not taken', async () => {
  const vm = await ok('POST', '/api/v1/vms', { body: { template: 'tpl', name: 'short' } }, 201);
  const [host] = await controller.store.hosts.list();
  const [image] = await controller.store.images.list();
  const [template] = await controller.store.templates.list();
  const cases: readonly (readonly [string, string])[] = [
    ['/api/v1/vms/', vm['id'] as string], ['/api/v1/hosts/', host!.id], ['/api/v1/images/', image!.id], ['/api/v1/templates/', template!.id],
  ];
  for (const [base, id] of cases) {
    assert.equal((await ok('GET', `${base}${id.slice(0, 8)}`))['id'], id, `${base} by its short id`);
    const short = await call('GET', `${base}${id.slice(0, 3)}`);
    assert.equal(short.status, 404, `${base}: 3 characters are not an id`);
    assert.equal(short.body.error?.code, 'NOT_FOUND');
  }
  for (const path of [`/api/v1/vms/${(vm['id'] as string).slice(0, 8)}/console`, `/api/v1/vms/${(vm['id'] as string).slice(0, 8)}/actions/terminate`]) {
    assert.equal((await call(path.endsWith('console') ? 'GET' : 'POST', path)).status, 200, path);
  }
  // Another user's VM is not found by its start either.
  assert.equal((await call('GET', `/api/v1/vms/${(vm['id'] as string).slice(0, 8)}`, { token: bob })).status, 404);
});

test('a name several live VMs share (an admin sees every user\'s) is 400 AMBIGUOUS_ID listing them', async () => {
  const mine = await ok('POST', '/api/v1/vms', { body: { template: 'tpl', name: 'twin' } }, 201);
  const bobs = await ok('POST', '/api/v1/vms', { token: bob, body: { template: 'tpl', name: 'twin' } }, 201);
  const a = await call('GET', '/api/v1/vms/twin');
  assert.equal(a.status, 400);
  assert.equal(a.body.error?.code, 'AMBIGUOUS_ID');
  assert.deepEqual(new Set(a.body.error?.details['candidates'] as string[]), new Set([mine['id'], bobs['id']]));
  assert.match(a.body.error?.message ?? '', new RegExp(`${mine['id'] as string}.*${bobs['id'] as string}|${bobs['id'] as string}.*${mine['id'] as string}`));
  assert.equal((await ok('GET', '/api/v1/vms/twin', { token: bob }))['id'], bobs['id'], 'bob sees only his');
});

test('templates and images are deleted by name; another user\'s template is not theirs to delete', async () => {
  await ok('POST', '/api/v1/templates', { body: { name: 'tpl2', vcpus: 1, memoryMiB: 64, image: 'disk' } }, 201);
  const refused = await call('DELETE', '/api/v1/templates/tpl2', { token: bob });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error?.code, 'FORBIDDEN');
  await ok('DELETE', '/api/v1/templates/tpl2', {}, 204);
  assert.equal((await call('GET', '/api/v1/templates/tpl2')).status, 404);
  const inUse = await call('DELETE', '/api/v1/images/disk');
  assert.equal(inUse.status, 409, 'tpl still uses it');
  await ok('POST', '/api/v1/images', { body: { name: 'spare', path: join(root, 'disk.raw') } }, 201);
  await ok('DELETE', '/api/v1/images/spare', {}, 204);
  assert.equal((await call('GET', '/api/v1/images/spare')).status, 404);
});

test('DELETE /hosts/{id}: admin only, 409 while a VM is on it, then gone', async () => {
  const h2 = await ok('POST', '/api/v1/hosts', { body: { name: 'h2', agentUrl: 'http://127.0.0.1:10', agentToken: 'h2-agent-token-0123456789' } }, 201);
  const vm = await ok('POST', '/api/v1/vms', { body: { template: 'tpl', name: 'placed' } }, 201);
  await controller.orchestrator.idle();
  await controller.store.vms.bindToHost(vm['id'] as string, h2['id'] as string, { cpus: 1, memoryMib: 64, diskMib: 1 }, () => true);
  const forbidden = await call('DELETE', '/api/v1/hosts/h2', { token: bob });
  assert.equal(forbidden.status, 403);
  const busy = await call('DELETE', '/api/v1/hosts/h2');
  assert.equal(busy.status, 409, JSON.stringify(busy.body));
  assert.equal(busy.body.error?.code, 'CONFLICT');
  assert.match(busy.body.error?.message ?? '', /placed/);
  assert.ok(await controller.store.hosts.findByName('h2'), 'nothing deleted');
  await controller.store.vms.transition(vm['id'] as string, { from: ['prolog'], to: 'terminated', action: 'test' });
  const gone = await ok('DELETE', '/api/v1/hosts/h2');
  assert.equal(gone['name'], 'h2');
  assert.equal((await call('GET', '/api/v1/hosts/h2')).status, 404);
  assert.equal((await ok('GET', `/api/v1/vms/${vm['id'] as string}`))['host'], null, 'the terminated VM lost its last host');
});

test('POST /vms/purge deletes terminated VMs\' records (the owner\'s, or all for an admin), older than asked; the event log keeps them', async () => {
  const v = await ok('POST', '/api/v1/vms', { token: bob, body: { template: 'tpl', name: 'old-one' } }, 201);
  await terminated(v['id'] as string);
  const live = await controller.store.vms.list({ state: ['pending'] });
  assert.ok(live.length > 0);
  const none = await ok('POST', '/api/v1/vms/purge', { token: bob, body: { olderThanS: 3600 } });
  assert.deepEqual(none['purged'], [], 'not old enough');
  const bad = await call('POST', '/api/v1/vms/purge', { body: { olderThanS: -1 } });
  assert.equal(bad.status, 400);
  const bobs = await ok('POST', '/api/v1/vms/purge', { token: bob, body: {} });
  assert.deepEqual((bobs['purged'] as { id: string }[]).map((p) => p.id), [v['id']], 'only bob\'s');
  assert.equal((await call('GET', `/api/v1/vms/${v['id'] as string}`)).status, 404);
  const all = await ok('POST', '/api/v1/vms/purge', { body: {} });
  assert.ok((all['purged'] as unknown[]).length >= 2, 'the admin purges every user\'s terminated VMs');
  assert.deepEqual(await controller.store.vms.list({ state: ['terminated'] }), []);
  assert.deepEqual((await controller.store.vms.list({ state: ['pending'] })).map((x) => x.id), live.map((x) => x.id), 'live VMs untouched');
  const events = await controller.store.events.listSince(0, 10_000);
  assert.ok(events.some((e) => e.resourceId === v['id'] && e.kind === 'vm.created'), 'the event log keeps its history');
  assert.ok(events.some((e) => e.resourceId === v['id'] && e.kind === 'vm.purged'));
});
