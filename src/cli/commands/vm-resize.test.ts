import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { vm, vmDetail } from '../cli-fixtures.js';

const off = vmDetail({ state: 'poweroff', vcpus: 1, memoryMiB: 128 });
let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/vms/web-1': () => ({ body: off }),
    'POST /api/v1/vms/web-1/resize': (req) => ({ body: vm({ state: 'poweroff', ...(req.body as { vcpus: number; memoryMiB: number }) }) }),
    'POST /api/v1/vms/web-2/resize': () => apiError(409, 'INVALID_STATE', 'cannot resize VM in state running (allowed from: poweroff)', { action: 'resize', state: 'running', allowed: ['poweroff'] }),
  });
});
after(() => api.close());

test('vm resize sends both sizes; a size not given is the VM\'s own; prints the VM', async () => {
  const r = await runCli(['vm', 'resize', 'web-1', '--vcpus', '2', '--memory', '512', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/resize');
  assert.deepEqual(last().body, { vcpus: 2, memoryMiB: 512 });
  assert.match(r.stdout, /web-1\s+poweroff/);
  const j = await runCli(['vm', 'resize', 'web-1', '--memory', '256', '--json', ...creds(api)]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(last().body, { vcpus: 1, memoryMiB: 256 }, 'the vCPUs as the VM has them');
  const shown = JSON.parse(j.stdout) as { vcpus: number; memoryMiB: number };
  assert.deepEqual([shown.vcpus, shown.memoryMiB], [1, 256]);
});

test('vm resize: no size, a bad size → usage error with nothing sent; a refusal of the controller is printed with its code', async () => {
  const n = api.requests.length;
  for (const args of [[], ['--vcpus', '0'], ['--memory', '8'], ['--vcpus', 'two']]) {
    const r = await runCli(['vm', 'resize', 'web-1', ...args, ...creds(api)]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /vcpus|memory|vCPUs|MiB/i);
  }
  assert.equal(api.requests.length, n, 'nothing sent');
  const refused = await runCli(['vm', 'resize', 'web-2', '--vcpus', '2', '--memory', '256', ...creds(api)]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /INVALID_STATE.*poweroff|poweroff.*INVALID_STATE|cannot resize VM in state running/);
});
