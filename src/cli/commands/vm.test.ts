import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiError, creds, emptyHome, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { vm, vmDetail } from '../cli-fixtures.js';

const web = vm();
const db = vm({ id: 'vm-2', name: 'db-1', state: 'pending', host: null, vcpus: 2, memoryMiB: 1024, stateReason: 'no host has 1024 MiB free' });
let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/vms': () => ({ body: [web, db] }),
    'POST /api/v1/vms': () => ({ status: 201, body: vm({ id: 'vm-3', name: 'new-1', state: 'pending', host: null }) }),
    'GET /api/v1/vms/vm-1': () => ({ body: vmDetail({ datastore: 'local' }) }),
    'GET /api/v1/vms/vm-9': () => ({ body: vmDetail({ id: 'vm-9', allowedActions: ['poweroff', 'poweroff-hard', 'reboot', 'reboot-hard', 'suspend', 'stop', 'terminate', 'terminate-hard'] }) }),
    'GET /api/v1/vms/vm-7': () => ({ body: vmDetail({ id: 'vm-7', name: 'copy', template: 'small', cloneOf: { id: 'vm-1', name: 'web-1' } }) }),
    'GET /api/v1/vms/vm-8': () => ({ body: vmDetail({ id: 'vm-8', state: 'failed', allowedActions: ['recover', 'terminate-hard'] }) }),
    'GET /api/v1/vms/vm-1/console': () => ({ text: 'Linux version 6.1\r\nNUBO-READY vm-1\r\n' }),
    'GET /api/v1/vms/vm-2/console': () => apiError(409, 'INVALID_STATE', 'VM vm-2 has no console in state pending'),
    'POST /api/v1/vms/vm-1/actions/poweroff-hard': () => ({ body: vm({ state: 'shutdown' }) }),
    'POST /api/v1/vms/vm-1/actions/terminate': () => ({ body: vm({ state: 'epilog' }) }),
    'POST /api/v1/vms/vm-1/actions/start': () => ({ body: vm({ state: 'boot' }) }),
  });
});
after(() => api.close());

test('vm list: table rows, filters as query parameters, --json equals the served data', async () => {
  const r = await runCli(['vm', 'list', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ID\s+NAME\s+STATE\s+HOST\s+VCPUS\s+MEMORY\s+REASON\n/);
  assert.match(r.stdout, /^vm-1\s+web-1\s+running\s+h1\s+1\s+128 MiB\s+-$/m);
  assert.match(r.stdout, /^vm-2\s+db-1\s+pending\s+-\s+2\s+1 GiB\s+no host has 1024 MiB free$/m);
  const f = await runCli(['vm', 'list', '--state', 'running', '--host', 'h1', '--json', ...creds(api)]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(last().path, '/api/v1/vms?state=running&host=h1');
  assert.deepEqual(JSON.parse(f.stdout), [web, db]);
  const bad = await runCli(['vm', 'list', '--state', 'sleeping', ...creds(api)]);
  assert.equal(bad.code, 2);
});

test('vm create sends the template and the overrides', async () => {
  const ud = join(emptyHome(), 'ud');
  writeFileSync(ud, 'hello');
  const r = await runCli(['vm', 'create', ...creds(api), '--template', 'small', '--name', 'new-1', '--vcpus', '2', '--memory', '512', '--user-data-file', ud, '--requirements', 'cpus > 1']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms');
  assert.deepEqual(last().body, { template: 'small', name: 'new-1', vcpus: 2, memoryMiB: 512, userData: 'hello', requirements: 'cpus > 1' });
  assert.match(r.stdout, /^vm-3\s+new-1\s+pending\s+-/m);
  const minimal = await runCli(['vm', 'create', ...creds(api), '--template', 'small']);
  assert.equal(minimal.code, 0, minimal.stderr);
  assert.deepEqual(last().body, { template: 'small' });
  const nics = await runCli(['vm', 'create', ...creds(api), '--template', 'small', '--nic', 'lab', '--nic', 'none', '--nic', 'dmz']);
  assert.equal(nics.code, 0, nics.stderr);
  assert.deepEqual(last().body, { template: 'small', nics: [{ network: 'lab' }, {}, { network: 'dmz' }] }, 'the NICs in order, `none` as a NIC on no network');
  const deployed = await runCli(['vm', 'create', ...creds(api), '--template', 'small', '--host', 'h2']);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.deepEqual(last().body, { template: 'small', host: 'h2' }, '--host: the admin\'s chosen host, as `host`');
});

test('vm show prints the fields and the state history; --json the detail', async () => {
  const r = await runCli(['vm', 'show', 'vm-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^state:\s+running$/m);
  assert.match(r.stdout, /^datastore:\s+local$/m);
  assert.match(r.stdout, /^actions:\s+poweroff, reboot, suspend, terminate$/m);
  // As typed on the command line (`nubo vm poweroff --hard`), not the API's `poweroff-hard`.
  assert.match((await runCli(['vm', 'show', 'vm-9', ...creds(api)])).stdout, /^actions:\s+poweroff \[--hard\], reboot \[--hard\], suspend, stop, terminate \[--hard\]$/m);
  assert.match((await runCli(['vm', 'show', 'vm-8', ...creds(api)])).stdout, /^actions:\s+recover, terminate --hard$/m);
  assert.match(r.stdout, /history:\nAT\s+FROM\s+TO\s+ACTION\s+REASON\n2024-05-01 12:00:00\s+-\s+pending\s+create\s+-\n/);
  assert.match(r.stdout, /boot\s+running\s+create/);
  assert.match(r.stdout, /^template:\s+tpl-1$/m);
  // A clone says what it was made from: the VM, not the template it inherited.
  const c = await runCli(['vm', 'show', 'vm-7', ...creds(api)]);
  assert.match(c.stdout, /^clone of:\s+VM web-1 \(vm-1\)$/m);
  assert.doesNotMatch(c.stdout, /^template:/m);
  const j = await runCli(['vm', 'show', 'vm-1', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), vmDetail({ datastore: 'local' }));
});

test('vm console prints the log as served; an API error keeps its code', async () => {
  const r = await runCli(['vm', 'console', 'vm-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Linux version 6.1\r\nNUBO-READY vm-1\r\n');
  const e = await runCli(['vm', 'console', 'vm-2', ...creds(api)]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /error \[INVALID_STATE\]: VM vm-2 has no console in state pending/);
});

test('vm actions POST …/actions/<action>; --hard picks the -hard variant', async () => {
  const p = await runCli(['vm', 'poweroff', 'vm-1', '--hard', ...creds(api)]);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/vm-1/actions/poweroff-hard');
  assert.match(p.stdout, /^vm-1\s+web-1\s+shutdown\s/m);
  const t = await runCli(['vm', 'terminate', 'vm-1', '--json', ...creds(api)]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(last().path, '/api/v1/vms/vm-1/actions/terminate');
  assert.deepEqual(JSON.parse(t.stdout), vm({ state: 'epilog' }));
  const s = await runCli(['vm', 'start', 'vm-1', ...creds(api)]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(last().path, '/api/v1/vms/vm-1/actions/start');
  // start has no -hard variant, so no --hard flag.
  const n = api.requests.length;
  const h = await runCli(['vm', 'start', 'vm-1', '--hard', ...creds(api)]);
  assert.equal(h.code, 2);
  assert.equal(api.requests.length, n);
});
