import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';

// Bad input on every route of the native API: the right status and code, the
// offending field or state named, and nothing written. No agent runs: the host
// stays `init` and VMs stay `pending`.

interface ErrorBody { code: string; message: string; details: Record<string, unknown> }
interface Answer { status: number; body: { error?: ErrorBody } & Record<string, unknown> }
interface Call { token?: string | null; body?: unknown; raw?: string; type?: string }
interface Expect { status: number; code: string; fields?: readonly string[]; match?: RegExp }

let root: string;
let controller: ControllerDaemon;
let admin: string;
let bob: string;
const hostToken = 'h1-agent-token-0123456789';
const ids: Record<string, string> = { hosts: 'h1', templates: 'tpl', vms: 'vm1' };
let rawFile: string;
let vmId: string;

// Every route, with `{id}`/`{action}` as in the OpenAPI document, and a valid body where it takes one.
const report = { name: 'h1', cpuModel: 'qemu64', cpuModels: [], cpuFlags: [], kvm: false, totalCpus: 2, totalMemoryMiB: 2048, totalDiskMiB: 10_000, usage: { load: 0, usedMemoryMiB: 0, usedDiskMiB: 0 }, vms: [], at: new Date().toISOString() };
const ROUTES: readonly (readonly [string, string, unknown?])[] = [
  ['GET', '/api/v1/hosts'], ['GET', '/api/v1/hosts/{id}'], ['POST', '/api/v1/hosts', { name: 'h9', agentUrl: 'http://127.0.0.1:9', agentToken: 'x'.repeat(20) }],
  ['POST', '/api/v1/hosts/{id}/enable'], ['POST', '/api/v1/hosts/{id}/disable'],
  ['GET', '/api/v1/images'], ['GET', '/api/v1/images/{id}'], ['POST', '/api/v1/images', { name: 'img9', path: '/etc/hostname' }],
  ['DELETE', '/api/v1/images/{id}'], ['GET', '/api/v1/images/{id}/data'],
  ['GET', '/api/v1/templates'], ['GET', '/api/v1/templates/{id}'], ['POST', '/api/v1/templates', { name: 't9', vcpus: 1, memoryMiB: 64, image: 'disk' }],
  ['GET', '/api/v1/vms'], ['GET', '/api/v1/vms/{id}'], ['POST', '/api/v1/vms', { template: 'tpl' }],
  ['POST', '/api/v1/vms/{id}/actions/{action}'], ['GET', '/api/v1/vms/{id}/console'],
  ['GET', '/api/v1/events'], ['GET', '/api/v1/events/history'], ['GET', '/api/v1/users/me'], ['PUT', '/api/v1/users/me/ssh-keys', { sshKeys: [] }],
  ['POST', '/api/v1/vms/{id}/migrate', {}], ['GET', '/api/v1/migrations'], ['GET', '/api/v1/migrations/{id}'], ['POST', '/api/v1/migrations/{id}/cancel'],
  ['POST', '/api/v1/vms/{id}/nics', { network: 'net' }], ['DELETE', '/api/v1/vms/{id}/nics/{index}'],
  ['POST', '/internal/v1/heartbeat', report],
];
const fill = (p: string): string => p.replace(/\/(hosts|images|templates|vms|migrations)\/\{id\}/, (_m, k: string) => `/${k}/${ids[k] ?? 'none'}`).replace('{action}', 'terminate').replace('{index}', '0');

async function call(method: string, path: string, o: Call = {}): Promise<Answer> {
  const token = o.token === undefined ? admin : o.token;
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const res = await fetch(`${controller.url}${path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': o.type ?? 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (/^[[{]/.test(text) ? JSON.parse(text) : {}) as Answer['body'] };
}

/** Everything a request could have written: rows, the event sequence, the image store's files. */
async function snapshot(): Promise<unknown> {
  const s = controller.store;
  return {
    hosts: await s.hosts.list(), images: await s.images.list(), templates: await s.templates.list(), vms: await s.vms.list(),
    users: (await s.users.list()).length, seq: await s.events.lastSeq(), files: (await readdir(join(root, 'controller', 'images'))).sort(),
  };
}

const fieldsOf = (a: Answer): string[] => ((a.body.error?.details['issues'] ?? []) as { field: string }[]).map((i) => i.field);

/** Makes the call, checks the error, and checks that nothing was written. */
async function rejects(method: string, path: string, o: Call, e: Expect): Promise<Answer> {
  const before = await snapshot();
  const a = await call(method, path, o);
  const what = `${method} ${path} ${(o.raw ?? JSON.stringify(o.body) ?? '').slice(0, 80)}`;
  assert.equal(a.status, e.status, `${what}: ${JSON.stringify(a.body).slice(0, 400)}`);
  assert.equal(a.body.error?.code, e.code, what);
  assert.equal(typeof a.body.error?.message, 'string', what);
  for (const f of e.fields ?? []) assert.ok(fieldsOf(a).includes(f), `${what}: names ${f} in ${JSON.stringify(a.body.error)}`);
  if (e.match) assert.match(a.body.error?.message ?? '', e.match, what);
  assert.deepEqual(await snapshot(), before, `${what}: nothing written`);
  return a;
}

async function created(method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const a = await call(method, path, { body });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  return a.body;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-badinput-'));
  // Heartbeats are never due: no background write (a silent host going to `error`) races the "nothing written" checks.
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, imageImportDir: root, logger: pino({ level: 'silent' }) });
  admin = (await controller.bootstrapAdmin())!;
  bob = (await controller.store.users.create({ name: 'bob' })).token;
  rawFile = join(root, 'disk.raw');
  await writeFile(rawFile, Buffer.alloc(1 << 20));
  await writeFile(join(root, 'vmlinuz'), 'not really a kernel');
  await writeFile(join(root, 'initrd'), 'not really an initrd');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', rawFile, join(root, 'backed.qcow2')]);
  await created('POST', '/api/v1/hosts', { name: 'h1', agentUrl: 'http://127.0.0.1:9', agentToken: hostToken });
  ids['images'] = (await created('POST', '/api/v1/images', { name: 'disk', path: rawFile })).id as string;
  await created('POST', '/api/v1/images', { name: 'vmlinuz', path: join(root, 'vmlinuz'), format: 'kernel' });
  await created('POST', '/api/v1/images', { name: 'initrd', path: join(root, 'initrd'), format: 'initrd' });
  await created('POST', '/api/v1/templates', { name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'disk' });
  vmId = (await created('POST', '/api/v1/vms', { template: 'tpl', name: 'vm1' })).id as string;
  await controller.orchestrator.idle(); // the scheduler has written its "no host fits" reason
});

after(async () => {
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

test('every route but the OpenAPI document answers 401 UNAUTHORIZED without a token or with a bad one', async () => {
  for (const [method, path, body] of ROUTES) {
    for (const token of [null, 'nubo_not-a-token', '']) {
      await rejects(method, fill(path), { token, ...(body !== undefined ? { body } : {}) }, { status: 401, code: 'UNAUTHORIZED' });
    }
  }
  // Authentication comes before validation: an anonymous caller learns nothing about the body's shape.
  for (const path of ['/internal/v1/heartbeat', '/api/v1/vms', '/api/v1/hosts']) await rejects('POST', path, { token: null, body: { bogus: 1 } }, { status: 401, code: 'UNAUTHORIZED' });
  assert.equal((await call('GET', '/api/v1/openapi.json', { token: null })).status, 200);
});

test('a plain user gets 403 on admin routes and 404 for another user\'s VM', async () => {
  for (const [method, path, body] of ROUTES.filter(([m, p]) => m === 'POST' && /^\/api\/v1\/(hosts|images)/.test(p))) {
    await rejects(method, fill(path), { token: bob, ...(body !== undefined ? { body } : {}) }, { status: 403, code: 'FORBIDDEN', match: /admin/ });
  }
  for (const ref of [vmId, 'vm1']) {
    for (const [method, path] of [['GET', `/api/v1/vms/${ref}`], ['GET', `/api/v1/vms/${ref}/console`], ['POST', `/api/v1/vms/${ref}/actions/terminate-hard`]] as const) {
      const a = await rejects(method, path, { token: bob }, { status: 404, code: 'NOT_FOUND' });
      assert.equal(a.body.error?.details['resource'], 'vm');
    }
  }
  for (const ref of [vmId, 'vm1']) {
    for (const [method, path, body] of [['POST', `/api/v1/vms/${ref}/nics`, { network: 'net' }], ['DELETE', `/api/v1/vms/${ref}/nics/0`, undefined]] as const) {
      const a = await rejects(method, path, { token: bob, ...(body !== undefined ? { body } : {}) }, { status: 404, code: 'NOT_FOUND' });
      assert.equal(a.body.error?.details['resource'], 'vm');
    }
  }
  // The admin's image is the shared catalog: bob sees it, so deleting it is forbidden (as for a catalog template), not hidden.
  await rejects('DELETE', `/api/v1/images/${ids['images']}`, { token: bob }, { status: 403, code: 'FORBIDDEN' });
  const mine = await call('GET', '/api/v1/vms', { token: bob });
  assert.deepEqual(mine.body, [], 'bob does not see the admin\'s VMs');
});

test('malformed bodies on every route that takes one: invalid JSON, empty, not an object, too large', async () => {
  for (const [method, path] of ROUTES.filter(([m, p]) => m === 'POST' && /^\/(api\/v1\/(hosts|images|templates|vms)|internal\/v1\/heartbeat)$/.test(p))) {
    const token = path.startsWith('/internal/') ? hostToken : admin;
    await rejects(method, path, { token, raw: '{"name": "x",' }, { status: 400, code: 'VALIDATION_FAILED', match: /JSON/ });
    await rejects(method, path, { token, raw: '' }, { status: 400, code: 'VALIDATION_FAILED' });
    await rejects(method, path, { token, body: ['name'] }, { status: 400, code: 'VALIDATION_FAILED' });
    await rejects(method, path, { token, raw: 'name=x', type: 'text/plain' }, { status: 400, code: 'VALIDATION_FAILED' });
    const huge = await rejects(method, path, { token, body: { name: 'x'.repeat(2 << 20) } }, { status: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    assert.deepEqual(huge.body.error?.details, {});
  }
});

test('unknown fields, wrong types, absurd sizes and bad enum values are 400 naming each field', async () => {
  const tpl = { name: 't2', vcpus: 1, memoryMiB: 64, image: 'disk' };
  const cases: readonly (readonly [string, string, unknown, readonly string[]])[] = [
    ['POST', '/api/v1/hosts', { name: 'h2', agentUrl: 'http://127.0.0.1:9', agentToken: 'x'.repeat(20), labels: {} }, ['labels']],
    ['POST', '/api/v1/hosts', { name: 'h'.repeat(10_000), agentUrl: 'ftp://x', agentToken: 'short' }, ['name', 'agentUrl', 'agentToken']],
    ['POST', '/api/v1/hosts', { name: 42, agentUrl: null, agentToken: 'x'.repeat(10_000) }, ['name', 'agentUrl', 'agentToken']],
    ['POST', '/api/v1/images', { name: 'img2', path: rawFile, format: 'vmdk' }, ['format']],
    ['POST', '/api/v1/images', { name: 'img2', path: 'relative/disk.raw', owner: 'bob' }, ['path', 'owner']],
    ['POST', '/api/v1/images', { name: ['img2'], path: rawFile }, ['name']],
    ['POST', '/api/v1/templates', { ...tpl, vcpus: 1e6, memoryMiB: 1e12, gpu: true }, ['vcpus', 'memoryMiB', 'gpu']],
    ['POST', '/api/v1/templates', { ...tpl, name: 'n'.repeat(10_000), vcpus: -1, memoryMiB: '64' }, ['name', 'vcpus', 'memoryMiB']],
    ['POST', '/api/v1/templates', { ...tpl, vcpus: 1.5, diskMode: 'thin', cpuModel: 'host; rm -rf /' }, ['vcpus', 'diskMode', 'cpuModel']],
    ['POST', '/api/v1/templates', { ...tpl, nics: [{ network: 'n'.repeat(100), vlan: 3 }], cmdline: 'x'.repeat(10_000) }, ['nics.0.network', 'nics.0.vlan', 'cmdline']],
    ['POST', '/api/v1/templates', { ...tpl, nics: Array.from({ length: 100 }, () => ({})), userData: 'x'.repeat(100_000) }, ['nics', 'userData']],
    ['POST', '/api/v1/vms', { template: 'tpl', vcpus: 1e6, memoryMiB: 1e12, bogus: true }, ['vcpus', 'memoryMiB', 'bogus']],
    ['POST', '/api/v1/vms', { template: 5, name: 'v'.repeat(10_000), vcpus: -2, memoryMiB: -64 }, ['template', 'name', 'vcpus', 'memoryMiB']],
    ['POST', '/api/v1/vms', { name: 'no-template', requirements: 'x'.repeat(10_000) }, ['template', 'requirements']],
    ['POST', '/api/v1/vms', { template: 'tpl', id: 'my-vm' }, ['id']],
    ['POST', '/api/v1/vms', { template: 'tpl', firewall: [{ protocol: 'tcp', fromPort: 80, toPort: 22, cidr: '198.18.0.0/15' }, { protocol: 'udp', fromPort: 53, toPort: 53, cidr: '198.18.0.1/15' }] }, ['firewall.0.toPort', 'firewall.1.cidr']],
    ['POST', '/api/v1/vms', { template: 'tpl', firewall: [{ protocol: 'gre', fromPort: 0, toPort: 0, cidr: '198.18.0.0/15' }] }, ['firewall.0.protocol']],
    ['GET', '/api/v1/vms?state=exploded', undefined, ['state']],
    ['GET', '/api/v1/vms?owner=bob', undefined, ['owner']],
    ['GET', '/api/v1/events/history?since=-1', undefined, ['since']],
    ['GET', '/api/v1/events/history?since=abc', undefined, ['since']],
    ['GET', '/api/v1/events/history?latest=0', undefined, ['latest']],
    ['GET', '/api/v1/events/history?latest=501', undefined, ['latest']],
    ['GET', '/api/v1/events/history?since=3&latest=5', undefined, ['latest']],
    ['GET', '/api/v1/events?since=1.5', undefined, ['since']],
    ['POST', `/api/v1/vms/${vmId}/actions/explode`, undefined, ['action']],
    ['POST', '/api/v1/vms/vm1/actions/migrate', undefined, ['action']],
    ['GET', `/api/v1/hosts/${'h'.repeat(65)}`, undefined, ['id']],
    ['POST', '/internal/v1/heartbeat', { ...report, totalCpus: 'two', usage: {} }, ['totalCpus', 'usage.load']],
    ['POST', '/api/v1/vms/vm1/nics', { network: 5, address: '198.18.67', mac: '52:54:00:00:00:01' }, ['network', 'address', 'mac']],
    ['POST', '/api/v1/vms/vm1/nics', {}, ['network']],
    ['DELETE', '/api/v1/vms/vm1/nics/abc', undefined, ['index']],
    ['DELETE', '/api/v1/vms/vm1/nics/9', undefined, ['index']],
    ['DELETE', '/api/v1/vms/vm1/nics/-1', undefined, ['index']],
  ];
  for (const [method, path, body, fields] of cases) {
    await rejects(method, path, { ...(body !== undefined ? { body } : {}), ...(path.startsWith('/internal/') ? { token: hostToken } : {}) }, { status: 400, code: 'VALIDATION_FAILED', fields });
  }
});

test('unknown ids are 404 NOT_FOUND naming the resource', async () => {
  const cases: readonly (readonly [string, string, string])[] = [
    ['GET', '/api/v1/hosts/nope', 'host'], ['POST', '/api/v1/hosts/nope/enable', 'host'], ['POST', '/api/v1/hosts/nope/disable', 'host'],
    ['GET', '/api/v1/images/nope', 'image'], ['DELETE', '/api/v1/images/nope', 'image'], ['GET', '/api/v1/images/nope/data', 'image'],
    ['GET', '/api/v1/templates/nope', 'template'], ['GET', '/api/v1/vms/nope', 'vm'], ['GET', '/api/v1/vms/nope/console', 'vm'],
    ['POST', '/api/v1/vms/nope/actions/start', 'vm'], ['GET', '/api/v1/vms?host=nope', 'host'],
  ];
  for (const [method, path, resource] of cases) {
    const a = await rejects(method, path, {}, { status: 404, code: 'NOT_FOUND', match: /nope/ });
    assert.deepEqual(a.body.error?.details, { resource, id: 'nope' }, `${method} ${path}`);
  }
  for (const [method, path, body] of [['POST', '/api/v1/vms/nope/nics', { network: 'net' }], ['DELETE', '/api/v1/vms/nope/nics/0', undefined]] as const) {
    const a = await rejects(method, path, body !== undefined ? { body } : {}, { status: 404, code: 'NOT_FOUND', match: /nope/ });
    assert.deepEqual(a.body.error?.details, { resource: 'vm', id: 'nope' }, `${method} ${path}`);
  }
  const none = await rejects('GET', '/api/v1/nowhere', {}, { status: 404, code: 'NOT_FOUND' });
  assert.match(none.body.error?.message ?? '', /nowhere/);
});

test('semantic errors: missing or wrong-format images, bad requirements, unusable files are 400 naming the field', async () => {
  const tpl = { name: 't3', vcpus: 1, memoryMiB: 64, image: 'disk' };
  const cases: readonly (readonly [string, unknown, string, RegExp])[] = [
    ['/api/v1/templates', { ...tpl, image: 'no-such-image' }, 'image', /no-such-image/],
    ['/api/v1/templates', { ...tpl, image: 'vmlinuz' }, 'image', /kernel/],
    ['/api/v1/templates', { ...tpl, kernel: 'disk' }, 'kernel', /raw/],
    ['/api/v1/templates', { ...tpl, kernel: 'no-such-kernel' }, 'kernel', /no-such-kernel/],
    ['/api/v1/templates', { ...tpl, kernel: 'vmlinuz', initrd: 'vmlinuz' }, 'initrd', /kernel/],
    ['/api/v1/templates', { ...tpl, initrd: 'initrd' }, 'initrd', /kernel/],
    ['/api/v1/templates', { ...tpl, requirements: 'free_memory_mb > (512' }, 'requirements', /./],
    ['/api/v1/templates', { ...tpl, requirements: 'cpu_model ==' }, 'requirements', /./],
    ['/api/v1/vms', { template: 'no-such-template' }, 'template', /no-such-template/],
    ['/api/v1/vms', { template: 'tpl', requirements: 'free_memory_mb >>> 1' }, 'requirements', /./],
    ['/api/v1/images', { name: 'img3', path: join(root, 'missing.qcow2') }, 'path', /missing\.qcow2/],
    ['/api/v1/images', { name: 'img3', path: root }, 'path', /not a readable file/],
    ['/api/v1/images', { name: 'img3', path: join(root, 'backed.qcow2') }, 'path', /backing file/],
    ['/api/v1/images', { name: 'img3', path: rawFile, format: 'qcow2' }, 'format', /raw/],
  ];
  for (const [path, body, field, match] of cases) {
    const a = await rejects('POST', path, { body }, { status: 400, code: 'VALIDATION_FAILED', fields: [field] });
    assert.match(a.body.error?.message ?? '', match, `${path} ${JSON.stringify(body)}`);
  }
});

test('duplicate names and deleting an image in use are 409 CONFLICT naming the field', async () => {
  const cases: readonly (readonly [string, string, unknown, string])[] = [
    ['POST', '/api/v1/hosts', { name: 'h1', agentUrl: 'http://127.0.0.1:10', agentToken: 'y'.repeat(20) }, 'name'],
    ['POST', '/api/v1/images', { name: 'disk', path: rawFile }, 'name'],
    ['POST', '/api/v1/templates', { name: 'tpl', vcpus: 2, memoryMiB: 128, image: 'disk' }, 'name'],
    ['POST', '/api/v1/vms', { template: 'tpl', name: 'vm1' }, 'name'],
    ['DELETE', `/api/v1/images/${ids['images']}`, undefined, 'id'],
  ];
  for (const [method, path, body, field] of cases) {
    const a = await rejects(method, path, body === undefined ? {} : { body }, { status: 409, code: 'CONFLICT' });
    assert.equal(a.body.error?.details['field'], field, `${method} ${path}`);
  }
});

test('`host` at create: admins only (403 naming it), an unknown host 400, a host that fails a placement filter 409 saying which — nothing written', async () => {
  const u = await rejects('POST', '/api/v1/vms', { body: { template: 'tpl', host: 'h1' }, token: bob }, { status: 403, code: 'FORBIDDEN', match: /`host`/ });
  assert.match(String(u.body.error?.details['what']), /host/);
  await rejects('POST', '/api/v1/vms', { body: { template: 'tpl', host: 'no-such-host' } }, { status: 400, code: 'VALIDATION_FAILED', fields: ['host'], match: /no-such-host/ });
  // h1 never heartbeated (no agent runs here): it is `init`, which placement skips — and so does a chosen host.
  const a = await rejects('POST', '/api/v1/vms', { body: { template: 'tpl', host: 'h1' } }, { status: 409, code: 'CONFLICT', match: /h1.*cannot be deployed there: not monitored yet/ });
  assert.equal(a.body.error?.details['field'], 'host');
});

test('actions from the wrong state are 409 INVALID_STATE naming the current state', async () => {
  for (const action of ['poweroff', 'poweroff-hard', 'start', 'reboot', 'reboot-hard', 'suspend', 'resume']) {
    for (const ref of [vmId, 'vm1']) {
      const a = await rejects('POST', `/api/v1/vms/${ref}/actions/${action}`, {}, { status: 409, code: 'INVALID_STATE', match: /pending/ });
      assert.equal(a.body.error?.details['state'], 'pending');
      assert.equal(a.body.error?.details['action'], action);
    }
  }
  // NICs change only while the VM runs or is powered off; the state is checked before the network or the index.
  for (const [method, path, body, action] of [['POST', 'nics', { network: 'no-such-net' }, 'nic-attach'], ['DELETE', 'nics/0', undefined, 'nic-detach']] as const) {
    const a = await rejects(method, `/api/v1/vms/vm1/${path}`, body !== undefined ? { body } : {}, { status: 409, code: 'INVALID_STATE', match: /pending.*running, poweroff/ });
    assert.equal(a.body.error?.details['state'], 'pending');
    assert.equal(a.body.error?.details['action'], action);
  }
  const vm = await call('GET', `/api/v1/vms/${vmId}`);
  assert.deepEqual(vm.body['allowedActions'], ['terminate', 'terminate-hard'], 'the view offers what the API accepts');
});

test('the OpenAPI document (no token needed) lists every route, with strict request bodies', async () => {
  const a = await call('GET', '/api/v1/openapi.json', { token: null });
  assert.equal(a.status, 200);
  const doc = a.body as { openapi: string; info: { title: string }; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } }>> };
  assert.match(doc.openapi, /^3\.\d+\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  // The agents' internal route is not part of the public API.
  for (const [method, path] of ROUTES.filter(([, p]) => p.startsWith('/api/'))) assert.ok(doc.paths[path]?.[method.toLowerCase()], `${method} ${path} is documented`);
  assert.equal(Object.keys(doc.paths).some((p) => p.startsWith('/internal/')), false);
  for (const path of ['/api/v1/hosts', '/api/v1/images', '/api/v1/templates', '/api/v1/vms']) {
    const schema = doc.paths[path]?.['post']?.requestBody?.content['application/json']?.schema;
    assert.equal(schema?.['additionalProperties'], false, `POST ${path} rejects unknown fields`);
    assert.ok(Array.isArray(schema?.['required']), `POST ${path} lists required fields`);
  }
  const nics = doc.paths['/api/v1/templates']?.['post']?.requestBody?.content['application/json']?.schema['properties'] as Record<string, { items: { additionalProperties: boolean } }>;
  assert.equal(nics['nics']?.items.additionalProperties, false);
  const action = (doc.paths['/api/v1/vms/{id}/actions/{action}']?.['post'] as { parameters: { name: string; schema: { enum?: string[] } }[] }).parameters.find((p) => p.name === 'action');
  assert.ok(action?.schema.enum?.includes('poweroff') && !action.schema.enum.includes('migrate'));
});
