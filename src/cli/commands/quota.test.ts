import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { countLimitArg, sizeLimitArg } from './quota.js';

// `nubo quota show|set` against a fake API that answers as the controller would.

const limits = { vms: 3, vcpus: null, memoryMiB: 4096, diskMiB: null, volumes: null, images: null, leases: null };
const usage = { vms: 1, vcpus: 2, memoryMiB: 256, diskMiB: 1024, volumes: 0, images: 0, leases: 0 };
const lines = [
  { resource: 'vms', limit: 3, used: 1, percent: 33.3 }, { resource: 'vcpus', limit: null, used: 2, percent: null },
  { resource: 'memoryMiB', limit: 4096, used: 256, percent: 6.2 }, { resource: 'diskMiB', limit: null, used: 1024, percent: null },
  { resource: 'volumes', limit: null, used: 0, percent: null }, { resource: 'images', limit: null, used: 0, percent: null }, { resource: 'leases', limit: null, used: 0, percent: null },
];
const alice = { subject: { kind: 'user', id: 'u-1', name: 'alice' }, limits, usage, lines };
const dev = { subject: { kind: 'group', id: 'g-1', name: 'dev' }, limits, usage, lines, members: [{ userId: 'u-1', name: 'alice', usage }] };

let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/quota': () => ({ body: alice }),
    'GET /api/v1/users/alice/quota': () => ({ body: alice }),
    'GET /api/v1/groups/dev/quota': () => ({ body: dev }),
    'PUT /api/v1/users/alice/quota': (r: RecordedRequest) => ({ body: { ...alice, limits: { ...limits, ...(r.body as object) } } }),
    'PUT /api/v1/groups/dev/quota': () => apiError(403, 'FORBIDDEN', 'forbidden: setting a quota is not allowed to this user'),
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('quota show: yours by default, --user / --group; a table of used, limit and % used; a group lists its members', async () => {
  const r = await nubo('quota', 'show');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(last().path, '/api/v1/quota');
  assert.match(r.stdout, /^RESOURCE\s+USED\s+LIMIT\s+USED%$/m);
  assert.match(r.stdout, /^vms\s+1\s+3\s+33\.3%$/m);
  assert.match(r.stdout, /^vcpus\s+2\s+unlimited\s+-$/m);
  assert.match(r.stdout, /^memoryMiB\s+256 MiB\s+4 GiB\s+6\.2%$/m);
  await nubo('quota', 'show', '--user', 'alice');
  assert.equal(last().path, '/api/v1/users/alice/quota');
  const g = await nubo('quota', 'show', '--group', 'dev');
  assert.equal(last().path, '/api/v1/groups/dev/quota');
  assert.match(g.stdout, /^MEMBER\s+VMS/m);
  assert.match(g.stdout, /^alice\s+1\s+2\s+256 MiB\s+1 GiB\s+0\s+0$/m);
  const j = await nubo('quota', 'show', '--json');
  assert.deepEqual(JSON.parse(j.stdout), alice);
  const both = await nubo('quota', 'show', '--user', 'a', '--group', 'b');
  assert.equal(both.code, 2);
});

test('quota set: PUT with only the flags given, sizes with units in MiB, "unlimited" as null; a 403 and bad flags exit 2, bad flags send nothing', async () => {
  const r = await nubo('quota', 'set', '--user', 'alice', '--vms', '5', '--memory', '4G', '--disk', 'unlimited');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'PUT', path: '/api/v1/users/alice/quota', body: { vms: 5, memoryMiB: 4096, diskMiB: null }, auth: `Bearer ${TOKEN}` });
  const f = await nubo('quota', 'set', '--group', 'dev', '--vms', '1');
  assert.equal(f.code, 2, 'a 403 is a usage error of the caller');
  assert.match(f.stderr, /FORBIDDEN/);
  const before = api.requests.length;
  for (const bad of [['--memory', '4X'], ['--vms', '-1'], ['--vcpus', '1.5']]) {
    const e = await nubo('quota', 'set', '--user', 'alice', ...bad);
    assert.equal(e.code, 2, `${bad.join(' ')}: ${e.stderr}`);
  }
  assert.equal((await nubo('quota', 'set', '--vms', '1')).code, 2, 'neither --user nor --group');
  assert.equal((await nubo('quota', 'set', '--user', 'alice')).code, 2, 'no limit given');
  assert.equal(api.requests.length, before, 'nothing sent');
});

test('size and count parsers', () => {
  assert.equal(sizeLimitArg('512'), 512);
  assert.equal(sizeLimitArg('512M'), 512);
  assert.equal(sizeLimitArg('4G'), 4096);
  assert.equal(sizeLimitArg('1TiB'), 1024 * 1024);
  assert.equal(sizeLimitArg('unlimited'), 'unlimited');
  assert.throws(() => sizeLimitArg('4X'), /512M, 4G or 1T/);
  assert.throws(() => sizeLimitArg('-4G'));
  assert.equal(countLimitArg('0'), 0);
  assert.equal(countLimitArg('unlimited'), 'unlimited');
  assert.throws(() => countLimitArg('2.5'), /whole number/);
});
