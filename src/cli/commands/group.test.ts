import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

// `nubo group create|list|show|delete|add-member|remove-member` against a fake
// API that keeps one group's members as the controller would.

const GID = 'deadbeef-0000-4000-8000-000000000001';
interface Member { userId: string; name: string; admin: boolean }
let members: Member[] = [];
const devs = (): Record<string, unknown> => ({ id: GID, name: 'devs', createdAt: '2026-12-04T10:00:00.000Z', members });
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/groups': (r: RecordedRequest) => {
      const name = (r.body as { name: string }).name;
      if (name === '') return apiError(400, 'VALIDATION_FAILED', 'invalid request body', { issues: [{ field: 'name', message: 'must not be empty' }] });
      if (name === 'devs' && members.length > 0) return apiError(409, 'CONFLICT', 'a group named "devs" already exists');
      return { status: 201, body: { ...devs(), name } };
    },
    'GET /api/v1/groups': () => ({ body: [devs(), { id: 'cafe0000-0000-4000-8000-000000000002', name: 'ops', createdAt: '2026-12-04T10:00:00.000Z', members: [] }] }),
    'GET /api/v1/groups/devs': () => ({ body: devs() }),
    'GET /api/v1/groups/nope': () => apiError(404, 'NOT_FOUND', 'group nope not found'),
    'DELETE /api/v1/groups/devs': () => ({ body: devs() }),
    'POST /api/v1/groups/devs/members': (r) => {
      const b = r.body as { user: string; admin: boolean };
      if (b.user === 'nobody') return apiError(400, 'VALIDATION_FAILED', 'invalid request body', { issues: [{ field: 'user', message: 'no user nobody' }] });
      if (b.user === 'carol' && b.admin) return apiError(403, 'FORBIDDEN', 'only an admin may make a group admin');
      members = [...members.filter((m) => m.name !== b.user), { userId: `id-${b.user}`, name: b.user, admin: b.admin }];
      return { body: devs() };
    },
    'DELETE /api/v1/groups/devs/members/bob': () => {
      members = members.filter((m) => m.name !== 'bob');
      return { body: devs() };
    },
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('group create: POST /groups with the name; prints the group; --json is the answer', async () => {
  const r = await nubo('group', 'create', 'devs');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/groups', body: { name: 'devs' }, auth: `Bearer ${TOKEN}` });
  assert.match(r.stdout, new RegExp(`^id:\\s+${GID}$`, 'm'));
  assert.match(r.stdout, /^name:\s+devs$/m);
  assert.match(r.stdout, /^created:\s+2026-12-04 10:00:00$/m);
  assert.match(r.stdout, /^members:\s+0$/m);
  assert.doesNotMatch(r.stdout, /MEMBER/, 'no member table for an empty group');
  const j = await nubo('group', 'create', 'qa', '--json');
  assert.deepEqual(JSON.parse(j.stdout), { ...devs(), name: 'qa' });
});

test('group create: a 400 naming the field is exit 2, a 409 exit 1; no name is exit 2 with nothing sent', async () => {
  const e = await nubo('group', 'create', '');
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /^ {2}name: must not be empty$/m);
  members = [{ userId: 'id-bob', name: 'bob', admin: false }];
  const c = await nubo('group', 'create', 'devs');
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^error \[CONFLICT\]: a group named "devs" already exists$/m);
  members = [];
  const before = api.requests.length;
  const n = await nubo('group', 'create');
  assert.equal(n.code, 2);
  assert.match(n.stderr, /missing required argument 'name'/);
  assert.equal(api.requests.length, before);
});

test('group add-member: POST …/members with admin false, or true with --admin; prints the members with their flag', async () => {
  members = [];
  const r = await nubo('group', 'add-member', 'devs', 'bob');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/groups/devs/members', body: { user: 'bob', admin: false }, auth: `Bearer ${TOKEN}` });
  assert.match(r.stdout, /^members:\s+1$/m);
  assert.match(r.stdout, /^MEMBER\s+ADMIN$/m);
  assert.match(r.stdout, /^bob\s+no$/m);
  const a = await nubo('group', 'add-member', 'devs', 'lead', '--admin', '--json');
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(last().body, { user: 'lead', admin: true });
  assert.deepEqual(JSON.parse(a.stdout), devs());
});

test('group add-member refused: unknown user (400, field user) exit 2; --admin by a non-admin (403) exit 2; unknown group exit 1', async () => {
  const u = await nubo('group', 'add-member', 'devs', 'nobody');
  assert.equal(u.code, 2);
  assert.match(u.stderr, /^ {2}user: no user nobody$/m);
  const f = await nubo('group', 'add-member', 'devs', 'carol', '--admin');
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^error \[FORBIDDEN\]: only an admin may make a group admin$/m);
  const g = await nubo('group', 'add-member', 'nope', 'bob');
  assert.equal(g.code, 1);
  assert.match(g.stderr, /^error \[NOT_FOUND\]/m);
  const before = api.requests.length;
  const m = await nubo('group', 'add-member', 'devs');
  assert.equal(m.code, 2);
  assert.match(m.stderr, /missing required argument 'user'/);
  assert.equal(api.requests.length, before);
});

test('group list: id prefix, name, member count and admins; --json is the list', async () => {
  members = [{ userId: 'id-bob', name: 'bob', admin: false }, { userId: 'id-lead', name: 'lead', admin: true }];
  const r = await nubo('group', 'list');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+NAME\s+MEMBERS\s+ADMINS$/);
  assert.match(lines[1]!, /^deadbeef\s+devs\s+2\s+lead$/);
  assert.match(lines[2]!, /^cafe0000\s+ops\s+0\s+-$/);
  const j = JSON.parse((await nubo('group', 'list', '--json')).stdout) as { name: string }[];
  assert.deepEqual(j.map((g) => g.name), ['devs', 'ops']);
});

test('group show: GET /groups/REF with its members; unknown: exit 1 with not found', async () => {
  members = [{ userId: 'id-lead', name: 'lead', admin: true }];
  const r = await nubo('group', 'show', 'devs');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([last().method, last().path], ['GET', '/api/v1/groups/devs']);
  assert.match(r.stdout, /^lead\s+yes$/m);
  assert.deepEqual(JSON.parse((await nubo('group', 'show', 'devs', '--json')).stdout), devs());
  const n = await nubo('group', 'show', 'nope');
  assert.equal(n.code, 1);
  assert.match(n.stderr, /^error \[NOT_FOUND\]: group nope not found$/m);
});

test('group remove-member: DELETE …/members/USER and prints who is left; group delete: DELETE /groups/REF', async () => {
  members = [{ userId: 'id-bob', name: 'bob', admin: false }, { userId: 'id-lead', name: 'lead', admin: true }];
  const r = await nubo('group', 'remove-member', 'devs', 'bob');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'DELETE', path: '/api/v1/groups/devs/members/bob', body: undefined, auth: `Bearer ${TOKEN}` });
  assert.match(r.stdout, /^members:\s+1$/m);
  assert.doesNotMatch(r.stdout, /^bob\s/m);
  const d = await nubo('group', 'delete', 'devs');
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual([last().method, last().path], ['DELETE', '/api/v1/groups/devs']);
  assert.equal(d.stdout, 'deleted group devs\n');
  const n = await nubo('group', 'delete', 'nope');
  assert.equal(n.code, 1);
  assert.match(n.stderr, /not found/);
});
