import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

// `nubo user create|list|delete|set-role` and `nubo user token create|list|revoke`
// against a fake API: the request each sends, what it prints, and how the
// controller's refusals become exit codes.

const bob = { id: 'a1b2c3d4-0000-4000-8000-000000000002', name: 'bob', role: 'user', sshKeys: [], createdAt: '2026-12-04T10:00:00.000Z' };
const ci = { id: 'f00dcafe-0000-4000-8000-000000000009', name: 'ci', createdAt: '2026-12-04T11:00:00.000Z' };
const SECRET = 'nubo_secret-of-bob-0123456789';
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/users': (r: RecordedRequest) => {
      const b = r.body as { name: string; role: string };
      if (b.name === 'bad name') return apiError(400, 'VALIDATION_FAILED', 'invalid request body: name: must match /^[a-z]/', { issues: [{ field: 'name', message: 'must match /^[a-z]/' }] });
      return { status: 201, body: { user: { ...bob, name: b.name, role: b.role }, token: SECRET } };
    },
    'GET /api/v1/users': () => ({ body: [bob] }),
    'GET /api/v1/users/bob': () => ({ body: { ...bob, groups: [{ id: 'g-1', name: 'devs', admin: true }, { id: 'g-2', name: 'ops', admin: false }] } }),
    'DELETE /api/v1/users/bob': () => ({ body: bob }),
    'DELETE /api/v1/users/alice': () => apiError(409, 'CONFLICT', 'user alice still owns 1 VM not terminated, 1 template: terminate or delete those first'),
    'DELETE /api/v1/users/nobody': () => apiError(404, 'NOT_FOUND', 'user nobody not found'),
    'PATCH /api/v1/users/bob': (r) => ({ body: { ...bob, role: (r.body as { role: string }).role } }),
    'PATCH /api/v1/users/me': () => apiError(403, 'FORBIDDEN', 'only an admin may change a role'),
    'POST /api/v1/users/me/tokens': (r) => ({ status: 201, body: { ...ci, name: (r.body as { name: string }).name, token: SECRET } }),
    'POST /api/v1/users/bob/tokens': (r) => ({ status: 201, body: { ...ci, name: (r.body as { name: string }).name, token: SECRET } }),
    'GET /api/v1/users/me/tokens': () => ({ body: [ci] }),
    'DELETE /api/v1/users/me/tokens/ci': () => ({ status: 204 }),
    'DELETE /api/v1/users/bob/tokens/gone': () => apiError(404, 'NOT_FOUND', 'token gone not found'),
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('user create: POST /users with the name and role user by default; prints the id, the token once and the warning to keep it', async () => {
  const r = await nubo('user', 'create', 'bob');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/users', body: { name: 'bob', role: 'user' }, auth: `Bearer ${TOKEN}` });
  assert.match(r.stdout, new RegExp(`^id:\\s+${bob.id}$`, 'm'));
  assert.match(r.stdout, /^name:\s+bob$/m);
  assert.match(r.stdout, /^role:\s+user$/m);
  assert.match(r.stdout, new RegExp(`^token:\\s+${SECRET}$`, 'm'));
  assert.match(r.stdout, /shown only this once/);
  const j = await nubo('user', 'create', 'root2', '--role', 'admin', '--json');
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(last().body, { name: 'root2', role: 'admin' });
  assert.deepEqual(JSON.parse(j.stdout), { user: { ...bob, name: 'root2', role: 'admin' }, token: SECRET });
});

test('user create with a bad --role or no name is a usage error (exit 2) and sends nothing', async () => {
  const before = api.requests.length;
  const r = await nubo('user', 'create', 'bob', '--role', 'root');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--role/);
  assert.match(r.stderr, /expected admin or user/);
  const n = await nubo('user', 'create');
  assert.equal(n.code, 2, n.stderr);
  assert.match(n.stderr, /missing required argument 'name'/);
  assert.equal(api.requests.length, before);
});

test('user create refused by the controller naming the field: exit 2, the field on its own line', async () => {
  const r = await nubo('user', 'create', 'bad name');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^error \[VALIDATION_FAILED\]: invalid request body$/m);
  assert.match(r.stderr, /^ {2}name: must match/m);
  assert.equal(r.stdout, '');
});

test('user list: a table of id prefix, name, role and creation time; --json is the list', async () => {
  const r = await nubo('user', 'list');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(last().path, '/api/v1/users');
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+NAME\s+ROLE\s+CREATED$/);
  assert.match(lines[1]!, /^a1b2c3d4\s+bob\s+user\s+2026-12-04 10:00:00$/);
  assert.deepEqual(JSON.parse((await nubo('user', 'list', '--json')).stdout), [bob]);
});

test('user show USER: GET /users/USER with their groups, a group\'s admin flag shown; unknown: exit 1', async () => {
  const r = await nubo('user', 'show', 'bob');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([last().method, last().path], ['GET', '/api/v1/users/bob']);
  assert.match(r.stdout, /^role:\s+user$/m);
  assert.match(r.stdout, /^groups:\s+devs \(admin\), ops$/m);
  const j = JSON.parse((await nubo('user', 'show', 'bob', '--json')).stdout) as { groups: unknown[] };
  assert.equal(j.groups.length, 2);
  const n = await nubo('user', 'show', 'nobody');
  assert.equal(n.code, 1);
  assert.match(n.stderr, /^error \[NOT_FOUND\]/m);
});

test('user delete: DELETE /users/REF; refused while they own things (exit 1, what they own named); unknown: exit 1', async () => {
  const r = await nubo('user', 'delete', 'bob');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'DELETE', path: '/api/v1/users/bob', body: undefined, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'deleted user bob\n');
  assert.deepEqual(JSON.parse((await nubo('user', 'delete', 'bob', '--json')).stdout), bob);
  const c = await nubo('user', 'delete', 'alice');
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^error \[CONFLICT\]: user alice still owns 1 VM not terminated, 1 template/);
  const n = await nubo('user', 'delete', 'nobody');
  assert.equal(n.code, 1);
  assert.match(n.stderr, /^error \[NOT_FOUND\]: user nobody not found$/m);
});

test('user set-role: PATCH with the role; a refusal (403) is exit 2 with the token hint', async () => {
  const r = await nubo('user', 'set-role', 'bob', 'admin');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'PATCH', path: '/api/v1/users/bob', body: { role: 'admin' }, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'user bob is now admin\n');
  const j = await nubo('user', 'set-role', 'bob', 'user', '--json');
  assert.deepEqual(JSON.parse(j.stdout), bob);
  const f = await nubo('user', 'set-role', 'me', 'admin');
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^error \[FORBIDDEN\]: only an admin may change a role$/m);
  assert.match(f.stderr, /check --token/);
});

test('user set-role with a role that is neither admin nor user, or none: exit 2, nothing sent', async () => {
  const before = api.requests.length;
  const r = await nubo('user', 'set-role', 'bob', 'root');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /'root' is invalid for argument 'role'\. expected admin or user/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const n = await nubo('user', 'set-role', 'bob');
  assert.equal(n.code, 2, n.stderr);
  assert.match(n.stderr, /missing required argument 'role'/);
  assert.equal(api.requests.length, before);
});

test('token create: POST /users/me/tokens (or --user\'s) with the name; prints the token once', async () => {
  const r = await nubo('user', 'token', 'create', 'ci');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/users/me/tokens', body: { name: 'ci' }, auth: `Bearer ${TOKEN}` });
  assert.match(r.stdout, /^name:\s+ci$/m);
  assert.match(r.stdout, new RegExp(`^token:\\s+${SECRET}$`, 'm'));
  assert.match(r.stdout, /shown only this once/);
  const j = await nubo('user', 'token', 'create', 'laptop', '--user', 'bob', '--json');
  assert.equal(j.code, 0, j.stderr);
  assert.equal(last().path, '/api/v1/users/bob/tokens');
  assert.deepEqual(JSON.parse(j.stdout), { ...ci, name: 'laptop', token: SECRET });
});

test('token list: names and dates, never a token; --json is the list', async () => {
  const r = await nubo('user', 'token', 'list');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([last().method, last().path], ['GET', '/api/v1/users/me/tokens']);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+NAME\s+CREATED$/);
  assert.match(lines[1]!, /^f00dcafe\s+ci\s+2026-12-04 11:00:00$/);
  assert.deepEqual(JSON.parse((await nubo('user', 'token', 'list', '--json')).stdout), [ci]);
});

test('token revoke: DELETE /users/USER/tokens/REF; an unknown token is exit 1; no name is exit 2 with nothing sent', async () => {
  const r = await nubo('user', 'token', 'revoke', 'ci');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'DELETE', path: '/api/v1/users/me/tokens/ci', body: undefined, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'revoked token ci\n');
  const n = await nubo('user', 'token', 'revoke', 'gone', '--user', 'bob');
  assert.equal(n.code, 1);
  assert.match(n.stderr, /^error \[NOT_FOUND\]: token gone not found$/m);
  const before = api.requests.length;
  const m = await nubo('user', 'token', 'revoke');
  assert.equal(m.code, 2);
  assert.match(m.stderr, /missing required argument 'token'/);
  assert.equal(api.requests.length, before);
});
