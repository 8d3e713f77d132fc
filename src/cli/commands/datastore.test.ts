import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';

// `nubo datastore create|list|show|delete` against a fake API.

const at = '2026-12-05T10:00:00.000Z';
const nfs = {
  id: 'd5000000-0000-4000-8000-000000000001', name: 'east-nfs', kind: 'shared', cluster: 'east', capacityMiB: 512000, usedMiB: 2048, createdAt: at,
  host: null, path: '/srv/nfs/east', hosts: ['h3'], usedBy: { vms: ['web'], volumes: [], templates: ['tpl'] },
};
const local = { id: 'd5000000-0000-4000-8000-000000000002', name: 'h1-local', kind: 'local', cluster: 'default', capacityMiB: null, usedMiB: null, createdAt: at };
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/datastores': () => ({ body: [nfs, local] }),
    'GET /api/v1/datastores/east-nfs': () => ({ body: nfs }),
    'POST /api/v1/datastores': (r: RecordedRequest) => {
      const b = r.body as { name: string };
      if (b.name === 'east-nfs') return apiError(409, 'CONFLICT', 'datastore with name "east-nfs" already exists');
      return { status: 201, body: { ...nfs, ...b } };
    },
    'DELETE /api/v1/datastores/east-nfs': () => apiError(409, 'CONFLICT', 'datastore with name "east-nfs" is in use: VM web; template tpl'),
    'DELETE /api/v1/datastores/old': () => ({ body: { ...nfs, name: 'old', usedBy: { vms: [], volumes: [], templates: [] } } }),
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('datastore list: kind, cluster, used / capacity and the hosts that see each; show: the fields, what uses it', async () => {
  const r = await nubo('datastore', 'list');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+KIND\s+CLUSTER\s+USED \/ CAPACITY\s+HOSTS$/);
  assert.match(lines[1]!, /^east-nfs\s+shared\s+east\s+2 GiB \/ 500 GiB\s+h3$/);
  assert.match(lines[2]!, /^h1-local\s+local\s+default\s+\? \/ \?\s+-$/);
  const s = await nubo('datastore', 'show', 'east-nfs');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^path:\s+\/srv\/nfs\/east$/m);
  assert.match(s.stdout, /^seen by:\s+h3$/m);
  assert.match(s.stdout, /^used by:\s+VMs web; templates tpl$/m);
  assert.deepEqual(JSON.parse((await nubo('datastore', 'show', 'east-nfs', '--json')).stdout), nfs);
});

test('datastore create: the request and what it prints; a taken name is exit 1; a bad --capacity is exit 2 with nothing sent', async () => {
  const c = await nubo('datastore', 'create', 'west-nfs', '--kind', 'shared', '--path', '/srv/nfs/west', '--cluster', 'west', '--capacity', '1024');
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/datastores', body: { name: 'west-nfs', kind: 'shared', path: '/srv/nfs/west', cluster: 'west', capacityMiB: 1024 }, auth: `Bearer ${TOKEN}` });
  assert.equal(c.stdout, 'datastore west-nfs (d5000000-0000-4000-8000-000000000001) created\n');
  const l = await nubo('datastore', 'create', 'h9-local', '--kind', 'local', '--path', '/var/lib/nubo', '--host', 'h9');
  assert.equal(l.code, 0, l.stderr);
  assert.deepEqual(last().body, { name: 'h9-local', kind: 'local', path: '/var/lib/nubo', host: 'h9' });
  const dup = await nubo('datastore', 'create', 'east-nfs', '--kind', 'shared', '--path', '/x');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  const n = api.requests.length;
  const bad = await nubo('datastore', 'create', 'x', '--kind', 'shared', '--path', '/x', '--capacity', '0');
  assert.equal(bad.code, 2);
  const missing = await nubo('datastore', 'create', 'x', '--kind', 'shared');
  assert.equal(missing.code, 2);
  assert.equal(api.requests.length, n);
});

test('datastore delete: one in use is refused naming what uses it; an unused one goes', async () => {
  const r = await nubo('datastore', 'delete', 'east-nfs');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is in use: VM web; template tpl/);
  const ok = await nubo('datastore', 'delete', 'old');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^deleted datastore old/);
});

test('datastore --help shows the worked example', async () => {
  const h = await runCli(['datastore', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /nubo datastore create east-nfs --kind shared --path \/srv\/nfs\/east --cluster east/);
});
