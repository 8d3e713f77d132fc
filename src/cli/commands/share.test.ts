import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

// `nubo share add|remove|list <image|template|network> <ref> [group]` against
// a fake API: each kind reaches its own route, a bad kind never leaves the CLI.

const devs = { groupId: 'deadbeef-0000-4000-8000-000000000001', group: 'devs', createdAt: '2026-12-04T10:00:00.000Z' };
const ops = { groupId: 'cafe0000-0000-4000-8000-000000000002', group: 'ops', createdAt: '2026-12-04T10:00:00.000Z' };
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/templates/tpl/shares': (r: RecordedRequest) => {
      const group = (r.body as { group: string }).group;
      if (group === 'nogroup') return apiError(400, 'VALIDATION_FAILED', 'invalid request body', { issues: [{ field: 'group', message: 'no group nogroup of yours' }] });
      return { status: 201, body: [devs] };
    },
    'POST /api/v1/images/base/shares': () => ({ status: 201, body: [devs, ops] }),
    'POST /api/v1/networks/devnet/shares': () => apiError(403, 'FORBIDDEN', 'only an admin shares a network'),
    'DELETE /api/v1/templates/tpl/shares/devs': () => ({ body: [] }),
    'DELETE /api/v1/networks/devnet/shares/ops': () => ({ body: [devs] }),
    'GET /api/v1/images/base/shares': () => ({ body: [devs, ops] }),
    'GET /api/v1/templates/hidden/shares': () => apiError(404, 'NOT_FOUND', 'template hidden not found'),
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('share add template|image: POST /{kind}s/REF/shares with the group; prints the groups it is shared with', async () => {
  const r = await nubo('share', 'add', 'template', 'tpl', 'devs');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/templates/tpl/shares', body: { group: 'devs' }, auth: `Bearer ${TOKEN}` });
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^GROUP\s+GROUP ID$/);
  assert.match(lines[1]!, /^devs\s+deadbeef$/);
  const i = await nubo('share', 'add', 'image', 'base', 'ops', '--json');
  assert.equal(i.code, 0, i.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/images/base/shares', body: { group: 'ops' }, auth: `Bearer ${TOKEN}` });
  assert.deepEqual(JSON.parse(i.stdout), [devs, ops]);
});

test('share add refused: a group not the caller\'s (400, field group) exit 2; a network by a non-admin (403) exit 2', async () => {
  const g = await nubo('share', 'add', 'template', 'tpl', 'nogroup');
  assert.equal(g.code, 2);
  assert.match(g.stderr, /^error \[VALIDATION_FAILED\]: invalid request body$/m);
  assert.match(g.stderr, /^ {2}group: no group nogroup of yours$/m);
  const n = await nubo('share', 'add', 'network', 'devnet', 'devs');
  assert.equal(n.code, 2);
  assert.equal(last().path, '/api/v1/networks/devnet/shares');
  assert.match(n.stderr, /^error \[FORBIDDEN\]: only an admin shares a network$/m);
});

test('share remove: DELETE /{kind}s/REF/shares/GROUP; the groups left, (none) when none', async () => {
  const r = await nubo('share', 'remove', 'template', 'tpl', 'devs');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'DELETE', path: '/api/v1/templates/tpl/shares/devs', body: undefined, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, '(none)\n');
  const n = await nubo('share', 'remove', 'network', 'devnet', 'ops', '--json');
  assert.equal(n.code, 0, n.stderr);
  assert.equal(last().path, '/api/v1/networks/devnet/shares/ops');
  assert.deepEqual(JSON.parse(n.stdout), [devs]);
});

test('share list: GET /{kind}s/REF/shares; a resource the caller may not see is exit 1, not found', async () => {
  const r = await nubo('share', 'list', 'image', 'base');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([last().method, last().path], ['GET', '/api/v1/images/base/shares']);
  assert.match(r.stdout, /^devs\s+deadbeef$/m);
  assert.match(r.stdout, /^ops\s+cafe0000$/m);
  const h = await nubo('share', 'list', 'template', 'hidden');
  assert.equal(h.code, 1);
  assert.match(h.stderr, /^error \[NOT_FOUND\]: template hidden not found$/m);
});

test('a kind that is not image, template or network, or a missing argument, is a usage error (exit 2) and sends nothing', async () => {
  const before = api.requests.length;
  for (const args of [['add', 'vm', 'web', 'devs'], ['list', 'templates', 'tpl'], ['remove', 'host', 'h1', 'devs']]) {
    const r = await nubo('share', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`'${args[1]!}' is invalid for argument 'kind'\\. expected one of image, template, network`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  for (const [args, missing] of [[['add', 'template', 'tpl'], 'group'], [['list', 'image'], 'ref'], [['remove'], 'kind']] as const) {
    const r = await nubo('share', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`missing required argument '${missing}'`));
  }
  assert.equal(api.requests.length, before);
});

test('the help names the kinds and the arguments', async () => {
  const r = await runCli(['share', 'add', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: nubo share add \[options\] <kind> <ref> <group>/);
  assert.match(r.stdout, /image, template, network/);
});
