import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { remoteRejects } from './support/remote-rejects.js';

// Issue 13's tenancy through the real API, as a table of routes × callers:
// an admin, a group admin (lead, admin of group dev), a member (alice, owner
// of the resources), another user (bob, in no group), a revoked token and no
// token. Every refusal is checked to have changed nothing in the store. No
// agent runs: VMs stay `pending`, which is all authorization needs.

type Who = 'none' | 'revoked' | 'bob' | 'alice' | 'lead' | 'admin';
const ORDER: readonly Who[] = ['none', 'revoked', 'bob', 'alice', 'lead', 'admin'];

let root: string;
let controller: ControllerDaemon;
const tokens: Record<Who, string> = { none: '', revoked: '', bob: '', alice: '', lead: '', admin: '' };
const ids: Record<string, string> = {};
const api = (who: Who): NuboClient => new NuboClient(controller.url, tokens[who]);
const ten = (who: Who): TenancyClient => new TenancyClient(controller.url, tokens[who]);

/** One request as `who`; the status and the parsed body. */
async function call(who: Who, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${controller.url}/api/v1${path}`, {
    method,
    headers: { ...(who === 'none' ? {} : { authorization: `Bearer ${tokens[who]}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** Everything tenancy could change, as one comparable value. */
async function snapshot(): Promise<string> {
  const db = controller.store.db;
  return JSON.stringify({
    users: await db.selectFrom('users').select(['id', 'name', 'role', 'deleted_at']).orderBy('id').execute(),
    tokens: await db.selectFrom('api_tokens').select(['id', 'user_id', 'name']).orderBy('id').execute(),
    groups: await db.selectFrom('groups').selectAll().orderBy('id').execute(),
    members: await db.selectFrom('group_members').select(['group_id', 'user_id', 'admin']).orderBy('group_id').orderBy('user_id').execute(),
    shares: await db.selectFrom('shares').select(['resource_kind', 'resource_id', 'group_id']).orderBy('resource_id').orderBy('group_id').execute(),
    templates: await db.selectFrom('templates').select(['id', 'name', 'owner_id']).orderBy('id').execute(),
    vms: await db.selectFrom('vms').select(['id', 'state']).orderBy('id').execute(),
    networks: await db.selectFrom('networks').select(['id', 'name']).orderBy('id').execute(),
    userQuotas: await db.selectFrom('user_quotas').selectAll().orderBy('user_id').execute(),
    groupQuotas: await db.selectFrom('group_quotas').selectAll().orderBy('group_id').execute(),
    volumes: await db.selectFrom('volumes').select(['id', 'owner_id']).orderBy('id').execute(),
  });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-tenancy-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  tokens.admin = (await controller.bootstrapAdmin())!;
  ids['admin'] = (await controller.store.users.list()).find((u) => u.role === 'admin')!.id;
  tokens.none = 'nubo_not-a-token';
  // Users are made through the API, as an operator would.
  for (const name of ['alice', 'bob', 'lead', 'rita'] as const) {
    const made = await ten('admin').createUser({ name });
    ids[name] = made.user.id;
    if (name === 'rita') tokens.revoked = made.token;
    else tokens[name] = made.token;
  }
  await ten('admin').revokeToken('rita', 'first');
  const dev = await ten('admin').createGroup({ name: 'dev' });
  ids['dev'] = dev.id;
  await ten('admin').addMember('dev', { user: 'alice' });
  await ten('admin').addMember('dev', { user: 'lead', admin: true });
  const img = (name: string, owner: string, c: string) =>
    controller.store.images.create({ name, ownerId: ids[owner]!, format: 'raw', sizeBytes: 1, virtualSizeBytes: 1, sha256: c.repeat(64), path: join(root, name) });
  await img('base', 'admin', 'a');
  ids['aliceDisk'] = (await img('alice-disk', 'alice', 'b')).id;
  await api('admin').createTemplate({ name: 'tpl', vcpus: 1, memoryMiB: 64, image: 'base' });
  ids['aliceTpl'] = (await api('alice').createTemplate({ name: 'alice-tpl', vcpus: 1, memoryMiB: 64, image: 'alice-disk' })).id;
  ids['aliceVm'] = (await api('alice').createVm({ template: 'tpl', name: 'alice-vm' })).id;
  ids['aliceVol'] = (await api('alice').createVolume({ name: 'alice-vol', sizeMiB: 8 })).id;
  await api('admin').createNetwork({ name: 'devnet', cidr: '198.18.80.0/24' });
  await api('admin').createNetwork({ name: 'open', cidr: '198.18.81.0/24' });
  await ten('admin').share('networks', 'devnet', { group: 'dev' });
});

after(async () => {
  await controller.orchestrator.idle();
  await controller.stop();
  await rm(root, { recursive: true, force: true });
});

interface Row {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: () => string;
  readonly body?: unknown;
  readonly expect: Partial<Record<Who, number>>;
}

// Routes × callers. Refusals change nothing (checked); a mutating row lists refusals only, its success is tested below.
const ROWS: Row[] = [
  { method: 'GET', path: () => `/vms/${ids['aliceVm']}`, expect: { none: 401, revoked: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'GET', path: () => '/vms/alice-vm', expect: { bob: 404, alice: 200, lead: 200 } },
  { method: 'GET', path: () => `/vms/${ids['aliceVm']}/console`, expect: { none: 401, bob: 404 } },
  { method: 'POST', path: () => `/vms/${ids['aliceVm']}/actions/poweroff`, expect: { revoked: 401, bob: 404 } },
  { method: 'POST', path: () => `/vms/${ids['aliceVm']}/actions/terminate`, expect: { bob: 404 } },
  // Admin-only whatever the VM: the same 403 for any id, so it tells nothing of the VM.
  { method: 'POST', path: () => `/vms/${ids['aliceVm']}/migrate`, body: {}, expect: { bob: 403, alice: 403, lead: 403 } },
  { method: 'GET', path: () => `/templates/${ids['aliceTpl']}`, expect: { none: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'DELETE', path: () => `/templates/${ids['aliceTpl']}`, expect: { revoked: 401, bob: 404, lead: 403 } },
  { method: 'GET', path: () => '/templates/tpl', expect: { bob: 200, alice: 200 } },
  { method: 'DELETE', path: () => '/templates/tpl', expect: { bob: 403, alice: 403, lead: 403 } },
  { method: 'GET', path: () => `/images/${ids['aliceDisk']}`, expect: { bob: 404, alice: 200 } },
  { method: 'DELETE', path: () => `/images/${ids['aliceDisk']}`, expect: { bob: 404, lead: 403 } },
  { method: 'POST', path: () => '/users', body: { name: 'mallory', role: 'admin' }, expect: { none: 401, revoked: 401, bob: 403, alice: 403, lead: 403 } },
  { method: 'GET', path: () => '/users/alice', expect: { none: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'GET', path: () => `/users/${ids['alice']}`, expect: { bob: 404, alice: 200 } },
  { method: 'PATCH', path: () => '/users/alice', body: { role: 'admin' }, expect: { bob: 404, alice: 403, lead: 403 } },
  { method: 'PATCH', path: () => '/users/me', body: { role: 'admin' }, expect: { revoked: 401, bob: 403, alice: 403, lead: 403 } },
  { method: 'DELETE', path: () => '/users/alice', expect: { bob: 404, alice: 403, lead: 403 } },
  { method: 'GET', path: () => '/users/alice/tokens', expect: { bob: 404, lead: 403, alice: 200, admin: 200 } },
  { method: 'POST', path: () => '/users/alice/tokens', body: { name: 'stolen' }, expect: { none: 401, bob: 404, lead: 403 } },
  { method: 'DELETE', path: () => '/users/alice/tokens/first', expect: { bob: 404, lead: 403 } },
  { method: 'POST', path: () => '/groups', body: { name: 'mine' }, expect: { none: 401, bob: 403, alice: 403, lead: 403 } },
  { method: 'GET', path: () => '/groups/dev', expect: { bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'DELETE', path: () => '/groups/dev', expect: { bob: 404, alice: 403, lead: 403 } },
  { method: 'POST', path: () => '/groups/dev/members', body: { user: 'bob' }, expect: { revoked: 401, bob: 404, alice: 403 } },
  { method: 'POST', path: () => '/groups/dev/members', body: { user: 'alice', admin: true }, expect: { alice: 403, lead: 403 } },
  { method: 'DELETE', path: () => '/groups/dev/members/lead', expect: { bob: 404, alice: 403 } },
  { method: 'POST', path: () => `/templates/${ids['aliceTpl']}/shares`, body: { group: 'dev' }, expect: { bob: 404, lead: 403 } },
  { method: 'POST', path: () => '/templates/tpl/shares', body: { group: 'dev' }, expect: { bob: 403, alice: 403 } },
  { method: 'POST', path: () => `/images/${ids['aliceDisk']}/shares`, body: { group: 'dev' }, expect: { bob: 404, lead: 403 } },
  { method: 'GET', path: () => '/networks/devnet', expect: { bob: 404, alice: 200, lead: 200 } },
  { method: 'GET', path: () => '/networks/open', expect: { bob: 200 } },
  { method: 'POST', path: () => '/networks/devnet/shares', body: { group: 'dev' }, expect: { bob: 404, alice: 403 } },
  { method: 'DELETE', path: () => '/networks/devnet/shares/dev', expect: { bob: 404, alice: 403 } },
  // Quotas (issue 13): read by the user, their group admins and (a group's) its members; set by admins alone.
  { method: 'GET', path: () => '/quota', expect: { none: 401, revoked: 401, bob: 200, alice: 200, lead: 200, admin: 200 } },
  { method: 'GET', path: () => '/users/alice/quota', expect: { none: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'PUT', path: () => '/users/alice/quota', body: { vms: 100 }, expect: { none: 401, revoked: 401, bob: 404, alice: 403, lead: 403 } },
  { method: 'PUT', path: () => '/users/me/quota', body: { vcpus: 100 }, expect: { bob: 403, alice: 403, lead: 403 } },
  { method: 'GET', path: () => '/groups/dev/quota', expect: { none: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'PUT', path: () => '/groups/dev/quota', body: { vms: 100 }, expect: { revoked: 401, bob: 404, alice: 403, lead: 403 } },
  // Volumes through the one Access point: the owner's group admin reaches them, others do not learn they exist.
  { method: 'GET', path: () => `/volumes/${ids['aliceVol']}`, expect: { none: 401, bob: 404, alice: 200, lead: 200, admin: 200 } },
  { method: 'GET', path: () => '/volumes/alice-vol', expect: { bob: 404, alice: 200, lead: 200 } },
  { method: 'DELETE', path: () => `/volumes/${ids['aliceVol']}`, expect: { revoked: 401, bob: 404 } },
  { method: 'POST', path: () => `/vms/${ids['aliceVm']}/volumes`, body: { volume: 'alice-vol' }, expect: { bob: 404 } },
  { method: 'POST', path: () => '/hosts', body: { name: 'h', agentUrl: 'http://127.0.0.1:9', agentToken: 'x'.repeat(24) }, expect: { bob: 403, lead: 403 } },
];

test('routes × callers: each answers as the table says, and no refusal changes anything', async () => {
  const wrong: string[] = [];
  for (const row of ROWS) {
    for (const who of ORDER) {
      const expected = row.expect[who];
      if (expected === undefined) continue;
      const before = await snapshot();
      const r = await call(who, row.method, row.path(), row.body);
      const label = `${row.method} ${row.path()} as ${who}`;
      if (r.status !== expected) wrong.push(`${label}: ${r.status} (expected ${expected}) ${JSON.stringify(r.body)}`);
      if (expected >= 400 && (await snapshot()) !== before) wrong.push(`${label}: refused, but the store changed`);
      // A hidden resource's answer is exactly the one for a resource that does not exist.
      if (expected === 404 && r.status === 404 && (r.body as { error?: { code?: string } } | undefined)?.error?.code !== 'NOT_FOUND') wrong.push(`${label}: 404 without NOT_FOUND`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('lists are scoped: VMs, users, groups, networks, templates and events show only what the caller may see', async () => {
  const names = <T extends { name: string }>(xs: T[]): string[] => xs.map((x) => x.name).sort();
  assert.deepEqual(names(await api('bob').listVms()), []);
  assert.deepEqual(names(await api('alice').listVms()), ['alice-vm']);
  assert.deepEqual(names(await api('lead').listVms()), ['alice-vm'], 'a group admin sees the members\' VMs');
  assert.deepEqual(names(await ten('bob').listUsers()), ['bob']);
  assert.deepEqual(names(await ten('lead').listUsers()), ['alice', 'lead']);
  assert.deepEqual(names(await ten('bob').listGroups()), []);
  assert.deepEqual(names(await ten('alice').listGroups()), ['dev']);
  assert.deepEqual(names(await api('bob').listNetworks()), ['open']);
  assert.deepEqual(names(await api('alice').listNetworks()), ['devnet', 'open']);
  assert.deepEqual(names(await api('bob').listTemplates()), ['tpl']);
  assert.deepEqual(names(await api('lead').listTemplates()), ['alice-tpl', 'tpl']);
  const vmEvents = async (who: Who) => (await api(who).listEvents()).filter((e) => e.resourceId === ids['aliceVm']).length;
  assert.ok((await vmEvents('alice')) > 0);
  assert.equal(await vmEvents('lead'), await vmEvents('alice'), 'the group admin reads the member\'s VM events');
  assert.equal(await vmEvents('bob'), 0);
});

test('sharing a template with a group: its members see and use it, never change it; unsharing or leaving the group ends it at the next request', async () => {
  await remoteRejects(api('bob').getTemplate('alice-tpl'), 404, 'NOT_FOUND');
  await ten('lead').addMember('dev', { user: 'bob' });
  await remoteRejects(api('bob').getTemplate('alice-tpl'), 404, 'NOT_FOUND', undefined, /not found/);
  assert.deepEqual((await ten('alice').share('templates', 'alice-tpl', { group: 'dev' })).map((s) => s.group), ['dev']);
  assert.equal((await api('bob').getTemplate('alice-tpl')).id, ids['aliceTpl']);
  const vm = await api('bob').createVm({ template: ids['aliceTpl']!, name: 'bob-from-shared' });
  assert.equal(vm.template, 'alice-tpl');
  await remoteRejects(api('bob').deleteTemplate(ids['aliceTpl']!), 403, 'FORBIDDEN');
  await remoteRejects(ten('bob').share('templates', ids['aliceTpl']!, { group: 'dev' }), 403, 'FORBIDDEN');
  await ten('lead').removeMember('dev', 'bob');
  await remoteRejects(api('bob').getTemplate(ids['aliceTpl']!), 404, 'NOT_FOUND');
  assert.deepEqual(await ten('alice').unshare('templates', 'alice-tpl', 'dev'), []);
  // The group admin reads a member's template (the owner is in dev) but builds on it only when it is shared.
  await remoteRejects(api('lead').createVm({ template: ids['aliceTpl']!, name: 'x' }), 403, 'FORBIDDEN');
  await api('bob').vmAction(vm.id, 'terminate');
});

test('tokens: several per user, revoked with immediate effect; a user manages their own, never raises their own role', async () => {
  const ci = await ten('alice').createToken('me', { name: 'ci' });
  const viaCi = new NuboClient(controller.url, ci.token);
  assert.equal((await viaCi.whoami()).name, 'alice');
  assert.deepEqual((await ten('alice').listTokens('me')).map((t) => t.name), ['first', 'ci']);
  assert.ok(!JSON.stringify(await ten('alice').listTokens('me')).includes(ci.token));
  await ten('alice').revokeToken('me', 'ci');
  await remoteRejects(viaCi.whoami(), 401, 'UNAUTHORIZED');
  assert.equal((await api('alice').whoami()).name, 'alice', 'her other token still works');
  await remoteRejects(ten('alice').updateUser('me', { role: 'admin' }), 403, 'FORBIDDEN');
  assert.equal((await api('alice').whoami()).role, 'user');
  // An admin revokes another's token too.
  const t2 = await ten('alice').createToken('me', { name: 'laptop' });
  await ten('admin').revokeToken('alice', 'laptop');
  await remoteRejects(new NuboClient(controller.url, t2.token).whoami(), 401, 'UNAUTHORIZED');
});

test('bad input is refused naming the field, and changes nothing', async () => {
  const before = await snapshot();
  await remoteRejects(ten('admin').createUser({ name: 'alice' }), 409, 'CONFLICT', undefined, /name "alice" already exists/);
  await remoteRejects(ten('admin').createUser({ name: '../evil' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(ten('admin').createUser({ name: 'ok', role: 'root' as 'admin' }), 400, 'VALIDATION_FAILED', 'role');
  await remoteRejects(ten('admin').createGroup({ name: 'dev' }), 409, 'CONFLICT', undefined, /name "dev"/);
  await remoteRejects(ten('admin').createGroup({ name: '' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(ten('admin').addMember('dev', { user: 'nobody' }), 400, 'VALIDATION_FAILED', 'user');
  await remoteRejects(ten('admin').addMember('nogroup', { user: 'bob' }), 404, 'NOT_FOUND');
  await remoteRejects(ten('admin').share('templates', 'tpl', { group: 'nogroup' }), 400, 'VALIDATION_FAILED', 'group');
  // A user shares only with a group of theirs: any other is as unknown as a missing one.
  const ops = await ten('admin').createGroup({ name: 'ops' });
  const mid = await snapshot();
  await remoteRejects(ten('alice').share('images', 'alice-disk', { group: 'ops' }), 400, 'VALIDATION_FAILED', 'group');
  await remoteRejects(ten('alice').createToken('me', { name: 'first' }), 409, 'CONFLICT', undefined, /name "first"/);
  await remoteRejects(ten('alice').createToken('me', { name: 'a b' }), 400, 'VALIDATION_FAILED', 'name');
  await remoteRejects(ten('admin').updateUser('bob', { role: 'owner' as 'admin' }), 400, 'VALIDATION_FAILED', 'role');
  assert.equal(await snapshot(), mid);
  await ten('admin').deleteGroup(ops.id);
  assert.equal(await snapshot(), before);
});

test('deleting a user: refused while they own a live VM (naming it), done once they own nothing — their token fails at once', async () => {
  const before = await snapshot();
  await remoteRejects(ten('admin').deleteUser('alice'), 409, 'CONFLICT', undefined, /still owns 1 VM not terminated, 1 volume, 1 image, 1 template/);
  assert.equal(await snapshot(), before);
  const carol = await ten('admin').createUser({ name: 'carol' });
  await ten('admin').addMember('dev', { user: 'carol' });
  const asCarol = new NuboClient(controller.url, carol.token);
  assert.equal((await asCarol.whoami()).name, 'carol');
  assert.equal((await ten('admin').deleteUser('carol')).name, 'carol');
  await remoteRejects(asCarol.whoami(), 401, 'UNAUTHORIZED');
  assert.ok(!(await ten('admin').getGroup('dev')).members.some((m) => m.name === 'carol'));
  await remoteRejects(ten('admin').getUser('carol'), 404, 'NOT_FOUND');
  // The last admin may neither step down nor be deleted.
  await remoteRejects(ten('admin').updateUser('me', { role: 'user' }), 409, 'CONFLICT', undefined, /last admin/);
});
