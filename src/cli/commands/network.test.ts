import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { creds, runCli, startFakeApi, type FakeApi } from '../cli-test-kit.js';

const at = '2024-05-01T12:00:00.000Z';
const lan = {
  id: 'net-1', name: 'lan', cidr: '198.18.64.0/24', gateway: '198.18.64.1', dns: [], vlan: null, bridge: 'br0', cluster: null, createdAt: at,
  addresses: { total: 253, free: 250, leased: 2, held: 1 },
  leases: [
    { address: '198.18.64.2', mac: '02:00:c6:12:40:02', state: 'leased', vm: 'vm-1', vmName: 'web-1', updatedAt: at },
    { address: '198.18.64.3', mac: '02:00:c6:12:40:03', state: 'leased', vm: 'vm-2', updatedAt: at },
    { address: '198.18.64.9', mac: '02:00:c6:12:40:09', state: 'held', vm: null, updatedAt: at },
  ],
};
let api: FakeApi;
before(async () => {
  api = await startFakeApi({ 'GET /api/v1/networks/lan': () => ({ body: lan }) });
});
after(() => api.close());

test('network show names the holders by name, by id those the caller may not see, - for none', async () => {
  const r = await runCli(['network', 'show', 'lan', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^198\.18\.64\.2\s+02:00:c6:12:40:02\s+leased\s+web-1\s/m);
  assert.match(r.stdout, /^198\.18\.64\.3\s+\S+\s+leased\s+vm-2\s/m);
  assert.match(r.stdout, /^198\.18\.64\.9\s+\S+\s+held\s+-\s/m);
});
