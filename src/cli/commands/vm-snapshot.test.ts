import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

const before1 = { name: 'before', createdAt: '2024-05-01T10:00:00.000Z', vmClockSec: 42 };
const cold = { name: 'cold-1', createdAt: '2024-05-01T11:00:00.000Z' };
let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/vms/web-1/snapshots': () => ({ body: [before1, cold] }),
    'GET /api/v1/vms/empty/snapshots': () => ({ body: [] }),
    'POST /api/v1/vms/web-1/snapshots': (r) =>
      (r.body as { name: string }).name === 'before'
        ? apiError(409, 'CONFLICT', 'a snapshot named "before" already exists on the VM\'s disk')
        : { status: 201, body: { ...cold, name: (r.body as { name: string }).name } },
    'POST /api/v1/vms/web-1/snapshots/before/revert': () => ({ body: before1 }),
    'POST /api/v1/vms/run-1/snapshots/before/revert': () => apiError(409, 'INVALID_STATE', 'cannot revert to a snapshot VM in state running (allowed from: poweroff): power it off first'),
    'POST /api/v1/vms/web-1/snapshots/..%2Fx/revert': () =>
      apiError(400, 'VALIDATION_FAILED', 'invalid request params: name: must be a plain name, not a path', { issues: [{ field: 'name', message: 'must be a plain name, not a path' }] }),
    'DELETE /api/v1/vms/web-1/snapshots/cold-1': () => ({ status: 204 }),
    'DELETE /api/v1/vms/web-1/snapshots/nope': () => apiError(404, 'NOT_FOUND', 'the VM\'s disk has no snapshot named "nope"'),
  });
});
after(() => api.close());

test('vm snapshot list prints a table (guest clock when taken from a running VM) or the JSON', async () => {
  const r = await runCli(['vm', 'snapshot', 'list', 'web-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'GET /api/v1/vms/web-1/snapshots');
  assert.match(r.stdout, /^NAME\s+CREATED\s+GUEST CLOCK\n/);
  assert.match(r.stdout, /^before\s+2024-05-01T10:00:00\.000Z\s+42s$/m);
  assert.match(r.stdout, /^cold-1\s+2024-05-01T11:00:00\.000Z\s+-$/m);
  const j = await runCli(['vm', 'snapshot', 'list', 'web-1', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), [before1, cold]);
  const e = await runCli(['vm', 'snapshot', 'list', 'empty', ...creds(api)]);
  assert.equal(e.stdout, '(none)\n');
});

test('vm snapshot create sends the name; a duplicate is a failed operation (exit 1)', async () => {
  const r = await runCli(['vm', 'snapshot', 'create', 'web-1', 'pre-upgrade', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/snapshots');
  assert.deepEqual(last().body, { name: 'pre-upgrade' });
  assert.match(r.stdout, /^pre-upgrade\s+2024-05-01T11:00:00\.000Z\s+-$/m);
  const d = await runCli(['vm', 'snapshot', 'create', 'web-1', 'before', ...creds(api)]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /error \[CONFLICT\]: a snapshot named "before" already exists/);
  const n = api.requests.length;
  const missing = await runCli(['vm', 'snapshot', 'create', 'web-1', ...creds(api)]);
  assert.equal(missing.code, 2, 'no name: a usage error');
  assert.equal(api.requests.length, n, 'nothing sent');
});

test('vm snapshot revert: done, refused while running (exit 1), a path name is a usage error naming the field (exit 2)', async () => {
  const r = await runCli(['vm', 'snapshot', 'revert', 'web-1', 'before', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/snapshots/before/revert');
  assert.match(r.stdout, /VM web-1: disk reverted to snapshot before \(taken 2024-05-01T10:00:00\.000Z\)/);
  const j = await runCli(['vm', 'snapshot', 'revert', 'web-1', 'before', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), before1);
  const running = await runCli(['vm', 'snapshot', 'revert', 'run-1', 'before', ...creds(api)]);
  assert.equal(running.code, 1);
  assert.match(running.stderr, /error \[INVALID_STATE\]: .*state running.*power it off first/);
  const path = await runCli(['vm', 'snapshot', 'revert', 'web-1', '../x', ...creds(api)]);
  assert.equal(last().path, '/api/v1/vms/web-1/snapshots/..%2Fx/revert', 'the name travels as one path segment');
  assert.equal(path.code, 2);
  assert.match(path.stderr, /^ {2}name: must be a plain name, not a path$/m);
  // `..` cannot travel as a path segment at all (URL parsing resolves it): refused before anything is sent.
  const n = api.requests.length;
  const dots = await runCli(['vm', 'snapshot', 'revert', 'web-1', '..', ...creds(api)]);
  assert.equal(dots.code, 2);
  assert.match(dots.stderr, /name: must be a plain name, not a path/);
  assert.equal(api.requests.length, n, 'nothing sent');
});

test('vm snapshot delete: quiet on success; an unknown name is a failed operation', async () => {
  const r = await runCli(['vm', 'snapshot', 'delete', 'web-1', 'cold-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/vms/web-1/snapshots/cold-1');
  assert.equal(r.stdout, '');
  const e = await runCli(['vm', 'snapshot', 'delete', 'web-1', 'nope', ...creds(api)]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /error \[NOT_FOUND\]: the VM's disk has no snapshot named "nope"/);
});

test('vm snapshot --help lists the four verbs', async () => {
  const r = await runCli(['vm', 'snapshot', '--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const verb of ['create', 'list', 'revert', 'delete']) assert.match(r.stdout, new RegExp(`^ +${verb} `, 'm'));
});
