import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { creds, runCli, startFakeApi, type FakeApi } from '../cli-test-kit.js';
import type { CloudDetailView, CloudView } from '../../contract/cloud-schemas.js';

const view: CloudView = {
  id: 'cloud-1', name: 'burst-1', kind: 'ec2', endpoint: 'http://127.0.0.1:7490', region: 'nubo-1', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA',
  instanceTypes: { '1x128': 'nubo.tiny' }, images: { disk: 'ami-00000001' }, capacity: 3, pricePerHour: 0.05, burst: 'when-full', vms: 1,
  s3Endpoint: null, imageBucket: null, reachable: true, checkedAt: new Date().toISOString(), error: null, createdAt: '2026-12-05T10:00:00.000Z',
};
const detail: CloudDetailView = { ...view, instances: [{ vm: 'vm-1', vmName: 'web-9', instanceId: 'i-0123456789abcdef0', instanceType: 'nubo.tiny', imageId: 'ami-00000001', remoteState: 'running' }] };
let api: FakeApi;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-cloud-cli-'));
  api = await startFakeApi({
    // Checked "now" when served, not when this file loaded: a slow CLI start still prints seconds.
    'GET /api/v1/clouds': () => ({ body: [{ ...view, checkedAt: new Date().toISOString() }] }),
    'POST /api/v1/clouds': () => ({ status: 201, body: view }),
    'GET /api/v1/clouds/burst-1': () => ({ body: detail }),
    'DELETE /api/v1/clouds/burst-1': () => ({ body: view }),
  });
});
after(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

test('cloud add: the secret is read from its file, the maps from repeated flags', async () => {
  await writeFile(join(dir, 'secret'), 'abcdefghijklmnopqrstuvwxyz0123456789ABCD\n');
  const r = await runCli(['cloud', 'add', 'burst-1', '--endpoint', 'http://127.0.0.1:7490', '--region', 'nubo-1', '--access-key-id', 'AKIAAAAAAAAAAAAAAAAA', '--secret-file', join(dir, 'secret'),
    '--instance-type', '1x128=nubo.tiny', '--instance-type', '1x256=nubo.small', '--image', 'disk=ami-00000001', '--capacity', '3', '--price', '0.05', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests.at(-1)?.body, {
    name: 'burst-1', endpoint: 'http://127.0.0.1:7490', region: 'nubo-1', accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCD',
    instanceTypes: { '1x128': 'nubo.tiny', '1x256': 'nubo.small' }, images: { disk: 'ami-00000001' }, capacity: 3, pricePerHour: 0.05,
  });
  assert.match(r.stdout, /^cloud burst-1 \(cloud-1\) registered: http:\/\/127\.0\.0\.1:7490, up to 3 VMs, bursts when-full$/m);
});

test('cloud add: a malformed pair, a size given twice or a bad burst policy is a usage error, and nothing is sent', async () => {
  const n = api.requests.length;
  const base = ['cloud', 'add', 'x', '--endpoint', 'http://e', '--region', 'r', '--access-key-id', 'AKIAAAAAAAAAAAAAAAAA', '--secret-file', join(dir, 'secret'), '--image', 'disk=ami-00000001', '--capacity', '1', ...creds(api)];
  for (const [extra, says] of [[['--instance-type', '1x128'], /KEY=VALUE/], [['--instance-type', '1x128=a.b', '--instance-type', '1x128=c.d'], /1x128 is given twice/], [['--instance-type', '1x128=a.b', '--burst', 'always'], /when-full or never/]] as const) {
    const r = await runCli([...base, ...extra]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, says);
  }
  assert.equal(api.requests.length, n);
});

test('cloud list and show: VMs against the limit, health, the maps and the instances', async () => {
  const l = await runCli(['cloud', 'list', ...creds(api)]);
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /^ID\s+NAME\s+ENDPOINT\s+REGION\s+VMS\s+BURST\s+PRICE\/H\s+HEALTH$/m);
  assert.match(l.stdout, /^cloud-1\s+burst-1\s+http:\/\/127\.0\.0\.1:7490\s+nubo-1\s+1\/3\s+when-full\s+0\.05\s+ok \(\d+s ago\)$/m);
  const s = await runCli(['cloud', 'show', 'burst-1', ...creds(api)]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^sizes:\s+1x128=nubo\.tiny$/m);
  assert.match(s.stdout, /^vm-1\s+web-9\s+i-0123456789abcdef0\s+nubo\.tiny\s+ami-00000001\s+running$/m);
  const d = await runCli(['cloud', 'remove', 'burst-1', ...creds(api)]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /^removed cloud burst-1 \(cloud-1\)$/m);
});
