import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { usageMonthOf } from '../../core/usage/usage-month.js';

// `nubo usage report` against a fake API answering one canned report.

const report = {
  month: '2026-12', from: '2026-12-01T00:00:00.000Z', until: '2027-01-01T00:00:00.000Z',
  prices: { currency: 'EUR', decimals: 2, vcpuHour: '0.01', memoryGibHour: '0.005', diskGibHour: '0.0001' },
  lines: [
    { vmId: 'aaaaaaaa-0000-4000-8000-000000000001', vmName: 'web, "front"', ownerId: 'u1', owner: 'ann', groupId: 'g1', group: 'dev', vcpuHours: '6.000000', memoryGibHours: '3.000000', diskGibHours: '30.000000', cost: '0.08', vcpuMs: '21600000', memoryMibMs: '11059200000', diskMibMs: '110592000000', states: { running: 10_800_000 } },
    { vmId: 'bbbbbbbb-0000-4000-8000-000000000002', vmName: 'db', ownerId: 'u2', owner: 'bob', groupId: null, group: null, vcpuHours: '1.000000', memoryGibHours: '0.500000', diskGibHours: '0.000000', cost: '0.01', vcpuMs: '3600000', memoryMibMs: '1843200000', diskMibMs: '0', states: { running: 3_600_000 } },
  ],
  users: [
    { ownerId: 'u1', owner: 'ann', vms: 1, vcpuHours: '6.000000', memoryGibHours: '3.000000', diskGibHours: '30.000000', cost: '0.08' },
    { ownerId: 'u2', owner: 'bob', vms: 1, vcpuHours: '1.000000', memoryGibHours: '0.500000', diskGibHours: '0.000000', cost: '0.01' },
  ],
  groups: [
    { groupId: 'g1', group: 'dev', vms: 1, vcpuHours: '6.000000', memoryGibHours: '3.000000', diskGibHours: '30.000000', cost: '0.08' },
    { groupId: null, group: null, vms: 1, vcpuHours: '1.000000', memoryGibHours: '0.500000', diskGibHours: '0.000000', cost: '0.01' },
  ],
  total: { vms: 2, vcpuHours: '7.000000', memoryGibHours: '3.500000', diskGibHours: '30.000000', cost: '0.09' },
};

let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/usage': (r: RecordedRequest) => {
      const q = new URL(r.path, 'http://x').searchParams;
      if (q.get('month') === '2026-13') return apiError(400, 'VALIDATION_FAILED', 'invalid request: month: must be a month as YYYY-MM', { issues: [{ field: 'month', message: 'must be a month as YYYY-MM (01–12, UTC)' }] });
      if (q.get('user') === 'carol') return apiError(404, 'NOT_FOUND', 'user carol not found');
      return { body: { ...report, month: q.get('month') } };
    },
  });
});
after(() => api.close());

const nubo = (...args: string[]) => runCli([...args, ...creds(api)]);
const last = (): RecordedRequest => api.requests.at(-1)!;

test('usage report: GET /usage with the month and the subject; a table of lines, users, groups and the total', async () => {
  const r = await nubo('usage', 'report', '--month', '2026-12', '--user', 'ann');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(last().path, '/api/v1/usage?month=2026-12&user=ann');
  assert.match(r.stdout, /^usage 2026-12 \(UTC, 2026-12-01T00:00:00.000Z to 2027-01-01T00:00:00.000Z\); prices per hour in EUR: vCPU 0.01, memory GiB 0.005, disk GiB 0.0001$/m);
  assert.match(r.stdout, /^OWNER\s+GROUP\s+VM\s+ID\s+VCPU-H\s+MEM-GIB-H\s+DISK-GIB-H\s+COST \(EUR\)$/m);
  assert.match(r.stdout, /^ann\s+dev\s+web, "front"\s+aaaaaaaa\s+6\.000000\s+3\.000000\s+30\.000000\s+0\.08$/m);
  assert.match(r.stdout, /^bob\s+-\s+db\s+bbbbbbbb\s+1\.000000\s+0\.500000\s+0\.000000\s+0\.01$/m);
  assert.match(r.stdout, /^\(none\)\s+1\s+1\.000000/m);
  assert.match(r.stdout, /^all\s+2\s+7\.000000\s+3\.500000\s+30\.000000\s+0\.09$/m);
  await nubo('usage', 'report', '--month', '2026-12', '--group', 'dev');
  assert.equal(last().path, '/api/v1/usage?month=2026-12&group=dev');
});

test('usage report: without --month, the current UTC month; --json is the answer as it came', async () => {
  const r = await nubo('usage', 'report', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(last().path, `/api/v1/usage?month=${usageMonthOf(Date.now())}`);
  assert.deepEqual(JSON.parse(r.stdout), { ...report, month: usageMonthOf(Date.now()) });
});

test('usage report --csv: a header and one RFC 4180 row per line, quoted where needed', async () => {
  const r = await nubo('usage', 'report', '--month', '2026-12', '--csv');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, [
    'month,owner,group,vm_id,vm_name,vcpu_hours,memory_gib_hours,disk_gib_hours,cost,currency',
    '2026-12,ann,dev,aaaaaaaa-0000-4000-8000-000000000001,"web, ""front""",6.000000,3.000000,30.000000,0.08,EUR',
    '2026-12,bob,,bbbbbbbb-0000-4000-8000-000000000002,db,1.000000,0.500000,0.000000,0.01,EUR',
    '',
  ].join('\n'), 'a header, one row per line; a comma and quotes are quoted');
});

test('usage report: bad flags exit 2 before any request; the API\'s 400 exits 2 naming the field, its 404 exits 1', async () => {
  const n = api.requests.length;
  for (const args of [['--json', '--csv'], ['--user', 'ann', '--group', 'dev']]) {
    const r = await nubo('usage', 'report', '--month', '2026-12', ...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal(api.requests.length, n, 'nothing was asked');
  const bad = await nubo('usage', 'report', '--month', '2026-13');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /month/);
  const hidden = await nubo('usage', 'report', '--month', '2026-12', '--user', 'carol');
  assert.equal(hidden.code, 1);
  assert.match(hidden.stderr, /not found/);
});

test('usage report --help says what is charged and how it is rounded', async () => {
  const r = await runCli(['usage', 'report', '--help']);
  assert.equal(r.code, 0);
  for (const s of ['--month <YYYY-MM>', '--user <user>', '--group <group>', '--csv', 'half up', 'sum of its lines']) assert.ok(r.stdout.includes(s), s);
});
