import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { vmDetail } from '../cli-fixtures.js';
import type { DiskMoveView, VolumeView } from '../../contract/storage-schemas.js';

const vm = vmDetail();
const at = '2025-01-01T00:00:00.000Z';
const move = (over: Partial<DiskMoveView>): DiskMoveView => ({ vmId: vm.id, host: 'h1', state: 'copying', from: 'local', to: 'shared', sync: 'top', offset: 0, len: 0, startedAt: at, ...over });
const vol = (over: Partial<VolumeView> = {}): VolumeView => ({ id: '0b7e2c1a-1111-4222-8333-444455556666', name: 'scratch', owner: 'admin', sizeMiB: 16, host: null, vm: null, vmName: null, slot: null, state: 'available', createdAt: at, cluster: 'default', ...over });
let api: FakeApi;
let polls = 0;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    [`GET /api/v1/vms/web-1`]: () => ({ body: vm }),
    [`POST /api/v1/vms/${vm.id}/disk/move`]: () => ({ status: 202, body: move({}) }),
    [`GET /api/v1/vms/${vm.id}/disk/move`]: () => ({ body: ++polls < 3 ? move({ offset: polls * 1024, len: 4096 }) : move({ state: 'done', offset: 4096, len: 4096, finishedAt: at }) }),
    'POST /api/v1/volumes': () => ({ status: 201, body: vol() }),
    'GET /api/v1/volumes': () => ({ body: [vol()] }),
    'DELETE /api/v1/volumes/scratch': () => apiError(409, 'CONFLICT', 'volume with name "scratch" is attached to VM web-1; detach it first'),
    'POST /api/v1/vms/web-1/volumes': () => ({ body: vol({ state: 'attached', host: 'h1', vm: vm.id, vmName: 'web-1', slot: 0 }) }),
    'DELETE /api/v1/vms/web-1/volumes/scratch': () => ({ body: vol({ host: 'h1' }) }),
  });
});
after(() => api.close());

test('vm disk-move sends the datastore and with --wait polls until the move ends', async () => {
  const r = await runCli(['vm', 'disk-move', 'web-1', '--datastore', 'shared', '--max-bandwidth', '8', '--wait', '--poll-interval', '10', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const post = api.requests.find((q) => q.method === 'POST')!;
  assert.equal(post.path, `/api/v1/vms/${vm.id}/disk/move`);
  assert.deepEqual(post.body, { datastore: 'shared', maxBandwidthMiBps: 8 });
  assert.match(r.stdout, /^state:\s+done$/m);
  assert.match(r.stdout, /local → shared/);
  const n = api.requests.length;
  for (const bad of [['--datastore', 'nfs'], []]) {
    const b = await runCli(['vm', 'disk-move', 'web-1', ...bad, ...creds(api)]);
    assert.equal(b.code, 2, b.stderr);
  }
  assert.equal(api.requests.length, n, 'nothing sent for bad flags');
});

test('volume create|list|attach|detach|delete map to the API; a refusal prints its code', async () => {
  const c = await runCli(['volume', 'create', 'scratch', '--size', '16', ...creds(api)]);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(last().body, { name: 'scratch', sizeMiB: 16 });
  assert.match(c.stdout, /^scratch\s+0b7e2c1a/m);
  const z = await runCli(['volume', 'create', 'scratch', '--size', '16', '--cluster', 'east', ...creds(api)]);
  assert.equal(z.code, 0, z.stderr);
  assert.deepEqual(last().body, { name: 'scratch', sizeMiB: 16, cluster: 'east' });
  const l = await runCli(['volume', 'list', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(l.stdout), [vol()]);
  const a = await runCli(['volume', 'attach', 'scratch', 'web-1', ...creds(api)]);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual([last().method, last().path, last().body], ['POST', '/api/v1/vms/web-1/volumes', { volume: 'scratch' }]);
  assert.match(a.stdout, /attached\s+default\s+h1\s+web-1\s+0/);
  const d = await runCli(['volume', 'detach', 'scratch', 'web-1', ...creds(api)]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/vms/web-1/volumes/scratch');
  const x = await runCli(['volume', 'delete', 'scratch', ...creds(api)]);
  assert.equal(x.code, 1);
  assert.match(x.stderr, /error \[CONFLICT\]: .*detach it first/);
  const n = api.requests.length;
  const bad = await runCli(['volume', 'create', 'zero', '--size', '0', ...creds(api)]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(api.requests.length, n);
});
