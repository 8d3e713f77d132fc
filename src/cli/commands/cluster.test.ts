import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { host } from '../cli-fixtures.js';

// `nubo cluster create|list|show|add-host|delete` against a fake API.

const at = '2026-12-05T10:00:00.000Z';
const east = { id: 'c0ffee00-0000-4000-8000-000000000001', name: 'east', description: 'rack 2', createdAt: at, hosts: ['h3'], networks: ['east-net'], datastores: [] };
const dflt = { id: 'c0ffee00-0000-4000-8000-000000000002', name: 'default', description: '', createdAt: at, hosts: ['h1', 'h2'], networks: [], datastores: [] };
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/clusters': () => ({ body: [dflt, east] }),
    'GET /api/v1/clusters/east': () => ({ body: east }),
    'POST /api/v1/clusters': (r: RecordedRequest) => {
      const b = r.body as { name: string };
      if (b.name === 'east') return apiError(409, 'CONFLICT', 'cluster with name "east" already exists');
      return { status: 201, body: { ...east, ...b, hosts: [], networks: [] } };
    },
    'POST /api/v1/clusters/east/hosts': (r) => {
      const b = r.body as { host: string };
      if (b.host === 'h1') return apiError(409, 'CONFLICT', 'host with name "h1" cannot move to cluster east: VM web: network west-net is bound to cluster default (migrate it off first)');
      return { body: { cluster: 'east', host: host({ name: b.host, cluster: 'east' }) } };
    },
    'DELETE /api/v1/clusters/east': () => apiError(409, 'CONFLICT', 'cluster with name "east" is not empty: host h3; network east-net'),
    'DELETE /api/v1/clusters/west': () => ({ body: { ...east, name: 'west', hosts: [], networks: [] } }),
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('cluster list: one row per cluster with its hosts and bound networks; show: the fields', async () => {
  const r = await nubo('cluster', 'list');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^NAME\s+HOSTS\s+NETWORKS\s+DATASTORES\s+DESCRIPTION$/);
  assert.match(lines[1]!, /^default\s+h1, h2\s+-\s+-\s+-$/);
  assert.match(lines[2]!, /^east\s+h3\s+east-net\s+-\s+rack 2$/);
  const s = await nubo('cluster', 'show', 'east');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^hosts:\s+h3$/m);
  assert.match(s.stdout, /^networks:\s+east-net$/m);
  assert.deepEqual(JSON.parse((await nubo('cluster', 'show', 'east', '--json')).stdout), east);
});

test('cluster create, add-host: the requests and what they print; a 409 is exit 1 with the reason', async () => {
  const c = await nubo('cluster', 'create', 'west', '--description', 'rack 3');
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(last(), { method: 'POST', path: '/api/v1/clusters', body: { name: 'west', description: 'rack 3' }, auth: `Bearer ${TOKEN}` });
  assert.equal(c.stdout, 'cluster west (c0ffee00-0000-4000-8000-000000000001) created\n');
  const dup = await nubo('cluster', 'create', 'east');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  const a = await nubo('cluster', 'add-host', 'east', 'h4');
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(last().body, { host: 'h4' });
  assert.equal(a.stdout, 'host h4 is in cluster east\n');
  const refused = await nubo('cluster', 'add-host', 'east', 'h1');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /network west-net is bound to cluster default/);
});

test('cluster delete: a non-empty cluster is refused naming what is in it; an empty one goes', async () => {
  const r = await nubo('cluster', 'delete', 'east');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not empty: host h3; network east-net/);
  const ok = await nubo('cluster', 'delete', 'west');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^deleted cluster west/);
});

test('cluster --help shows the worked example; add-host with one argument is exit 2, nothing sent', async () => {
  const h = await runCli(['cluster', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /nubo cluster add-host east h3/);
  const n = api.requests.length;
  const bad = await nubo('cluster', 'add-host', 'east');
  assert.equal(bad.code, 2);
  assert.equal(api.requests.length, n);
});
