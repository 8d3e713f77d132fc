import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { vmDetail } from '../cli-fixtures.js';

const two = vmDetail({
  nics: [
    { index: 0, network: 'lan', address: '198.18.66.2/24', mac: '52:54:00:12:42:02' },
    { index: 1, network: 'storage', address: '198.18.67.10/24', mac: '52:54:00:12:43:0a' },
  ],
});
const one = vmDetail({ nics: [two.nics[1]!] });
let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/vms/web-1/nics': () => ({ status: 201, body: two }),
    'DELETE /api/v1/vms/web-1/nics/0': () => ({ body: one }),
    'DELETE /api/v1/vms/web-1/nics/5': () => apiError(404, 'NOT_FOUND', 'nic 5 of VM web-1 not found', { resource: 'nic', id: '5 of VM web-1' }),
  });
});
after(() => api.close());

test('vm nic attach sends the network and the address; prints the NICs by index', async () => {
  const r = await runCli(['vm', 'nic', 'attach', 'web-1', '--network', 'storage', '--address', '198.18.67.10', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/nics');
  assert.deepEqual(last().body, { network: 'storage', address: '198.18.67.10' });
  assert.match(r.stdout, /^INDEX\s+NETWORK\s+ADDRESS\s+MAC\n/);
  assert.match(r.stdout, /^1\s+storage\s+198\.18\.67\.10\/24\s+52:54:00:12:43:0a$/m);
  const j = await runCli(['vm', 'nic', 'attach', 'web-1', '--network', 'storage', '--json', ...creds(api)]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(last().body, { network: 'storage' });
  assert.deepEqual(JSON.parse(j.stdout), two);
  const n = api.requests.length;
  const missing = await runCli(['vm', 'nic', 'attach', 'web-1', ...creds(api)]);
  assert.equal(missing.code, 2, 'no --network: a usage error');
  assert.equal(api.requests.length, n, 'nothing sent');
});

test('vm nic detach takes the index; other NICs keep theirs; a bad or unknown index is refused', async () => {
  const r = await runCli(['vm', 'nic', 'detach', 'web-1', '0', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/vms/web-1/nics/0');
  assert.match(r.stdout, /^1\s+storage\s+198\.18\.67\.10\/24/m);
  const n = api.requests.length;
  for (const bad of ['x', '8', '-1']) {
    const b = await runCli(['vm', 'nic', 'detach', 'web-1', bad, ...creds(api)]);
    assert.equal(b.code, 2, `index ${bad}: ${b.stderr}`);
  }
  assert.equal(api.requests.length, n, 'nothing sent for a bad index');
  const e = await runCli(['vm', 'nic', 'detach', 'web-1', '5', ...creds(api)]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /error \[NOT_FOUND\]: nic 5 of VM web-1 not found/);
});

test('vm show lists the NICs by their index', async () => {
  const a = await startFakeApi({ 'GET /api/v1/vms/web-1': () => ({ body: one }) });
  try {
    const r = await runCli(['vm', 'show', 'web-1', ...creds(a)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nic 1:\s+52:54:00:12:43:0a on storage 198\.18\.67\.10\/24$/m);
  } finally {
    await a.close();
  }
});
