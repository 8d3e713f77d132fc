import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { UsageClient } from '../src/client/usage-client.js';
import type { UsageReportView } from '../src/contract/usage-schemas.js';
import { parseUsagePrices } from '../src/core/usage/usage-prices.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { pollUntil } from '../src/util/deadline.js';
import { remoteRejects } from './support/remote-rejects.js';
import { startInProcessCloud, type InProcessCloud } from './support/in-process-cloud.js';

// Issue 13's showback end to end: real VMs (nubo-tiny on QEMU, in-process
// controller and agent) driven through their states by their owners, then the
// month's report checked against each VM's state history recomputed here, by
// this file's own arithmetic: exact milliseconds, the charge of each state,
// one half-up rounding per line, totals as sums. Then who may read what, the
// CLI's JSON and CSV, and bad input.

const PRICES = 'vcpu-hour=36,memory-gib-hour=7.2,disk-gib-hour=0.36,currency=EUR,decimals=4';
// Independent of core/usage: what each state is charged, as the README states it.
const COMPUTE = new Set(['boot', 'running', 'migrating', 'shutdown', 'saving']);
const FREE = new Set(['pending', 'terminated']);

let cloud: InProcessCloud;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const vms: Record<string, string> = {};
const api = (who: string): NuboClient => new NuboClient(cloud.controller.url, tokens[who]!);
const usage = (who: string): UsageClient => new UsageClient(cloud.controller.url, tokens[who]!);
const month = new Date().toISOString().slice(0, 7);

async function waitState(who: string, id: string, state: string): Promise<void> {
  await pollUntil(`VM ${id} ${state}`, async () => {
    const v = await api(who).getVm(id);
    if (v.state === 'failed') throw new Error(`VM failed: ${v.stateReason ?? ''}`);
    return v.state === state && (v as { operation?: unknown }).operation == null ? true : undefined;
  }, { timeoutMs: 180_000, intervalMs: 200 });
}

async function act(who: string, id: string, action: 'poweroff-hard' | 'start' | 'suspend' | 'resume' | 'terminate-hard', until: string): Promise<void> {
  await api(who).vmAction(id, action);
  await waitState(who, id, until);
}

/** One request as `who`: status and body (for the refusals). */
async function raw(who: string, query: string): Promise<{ status: number; body: { error?: { code: string; details: { issues?: { field: string }[] } } } }> {
  const res = await fetch(`${cloud.controller.url}/api/v1/usage?${query}`, { headers: { authorization: `Bearer ${tokens[who]!}` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as never };
}

const half = (num: bigint, den: bigint): bigint => (2n * num + den) / (2n * den);
const fixed = (v: bigint, d: number): string => {
  const s = v.toString().padStart(d + 1, '0');
  return d === 0 ? s : `${s.slice(0, -d)}.${s.slice(-d)}`;
};
const unfixed = (s: string): bigint => BigInt(s.replace('.', ''));

/** A VM's line as its state history and spec say it must be, up to `until`. */
async function expectedLine(vmId: string, until: string): Promise<{ vcpuMs: string; memoryMibMs: string; diskMibMs: string; vcpuHours: string; memoryGibHours: string; diskGibHours: string; cost: string; states: Record<string, number> }> {
  const store = cloud.controller.store;
  const vm = await store.vms.get(vmId);
  const demand = (vm.spec as { demand: { vcpus: number; memoryMiB: number; diskMiB: number } }).demand;
  const history = await store.vms.history(vmId);
  const start = Date.parse(`${month}-01T00:00:00.000Z`);
  let vcpu = 0n;
  let mem = 0n;
  let disk = 0n;
  const states: Record<string, number> = {};
  history.forEach((h, k) => {
    if (h.toState === 'terminated') return;
    const from = Math.max(Date.parse(h.at), start);
    const to = Date.parse(history[k + 1]?.at ?? until);
    if (to <= from) return;
    const ms = BigInt(to - from);
    states[h.toState] = (states[h.toState] ?? 0) + (to - from);
    if (COMPUTE.has(h.toState)) {
      vcpu += BigInt(demand.vcpus) * ms;
      mem += BigInt(demand.memoryMiB) * ms;
    }
    if (!FREE.has(h.toState)) disk += BigInt(demand.diskMiB) * ms;
  });
  // Prices in 10^-4 EUR per hour: 36 → 360000, 7.2 → 72000, 0.36 → 3600; the cost in 10^-4 EUR.
  const cost = half(vcpu * 360_000n * 1024n + mem * 72_000n + disk * 3_600n, 3_600_000n * 1024n);
  return {
    vcpuMs: String(vcpu), memoryMibMs: String(mem), diskMibMs: String(disk),
    vcpuHours: fixed(half(vcpu * 1_000_000n, 3_600_000n), 6), memoryGibHours: fixed(half(mem * 1_000_000n, 3_600_000n * 1024n), 6),
    diskGibHours: fixed(half(disk * 1_000_000n, 3_600_000n * 1024n), 6), cost: fixed(cost, 4),
    states: Object.fromEntries(Object.entries(states).sort(([a], [b]) => a.localeCompare(b))),
  };
}

function assertSums(r: UsageReportView): void {
  for (const f of ['vcpuHours', 'memoryGibHours', 'diskGibHours', 'cost'] as const) {
    const sum = (xs: readonly { [k in typeof f]: string }[]): bigint => xs.reduce((a, x) => a + unfixed(x[f]), 0n);
    assert.equal(sum(r.lines), unfixed(r.total[f]), `total ${f}`);
    assert.equal(sum(r.users), unfixed(r.total[f]), `users ${f}`);
    assert.equal(sum(r.groups), unfixed(r.total[f]), `groups ${f}`);
    for (const u of r.users) assert.equal(sum(r.lines.filter((l) => l.ownerId === u.ownerId)), unfixed(u[f]), `${u.owner} ${f}`);
  }
}

before(async () => {
  cloud = await startInProcessCloud({ prefix: 'nubo-usage-', logger: pino({ level: 'silent' }), usagePrices: parseUsagePrices(PRICES) });
  tokens['admin'] = cloud.api.token;
  const ten = new TenancyClient(cloud.controller.url, cloud.api.token);
  for (const name of ['ann', 'bob', 'lead']) {
    const made = await ten.createUser({ name });
    tokens[name] = made.token;
    ids[name] = made.user.id;
  }
  ids['dev'] = (await ten.createGroup({ name: 'dev' })).id;
  await ten.addMember('dev', { user: 'ann' });
  await ten.addMember('dev', { user: 'lead', admin: true });
  // ann's VM lives a whole life: running, powered off, running again, suspended, resumed, terminated.
  vms['ann'] = (await api('ann').createVm({ template: 'tiny', name: 'ann-web' })).id;
  // One after the other: the second finds the images in its host's cache (a loaded machine need not fetch them twice at once).
  await waitState('ann', vms['ann'], 'running');
  // bob's keeps running: its open record is charged up to the report's `until`.
  vms['bob'] = (await api('bob').createVm({ template: 'tiny', name: 'bob-db' })).id;
  await waitState('bob', vms['bob'], 'running');
  await act('ann', vms['ann'], 'poweroff-hard', 'poweroff');
  await act('ann', vms['ann'], 'start', 'running');
  await act('ann', vms['ann'], 'suspend', 'suspended');
  await act('ann', vms['ann'], 'resume', 'running');
  await act('ann', vms['ann'], 'terminate-hard', 'terminated');
});

after(async () => {
  await cloud?.stop();
});

test('the admin\'s report: every VM\'s line equals its state history recomputed, and every total is the sum of its lines', async () => {
  const r = await usage('admin').report({ month });
  assert.equal(r.month, month);
  assert.deepEqual(r.prices, { currency: 'EUR', decimals: 4, vcpuHour: '36', memoryGibHour: '7.2', diskGibHour: '0.36' });
  assert.deepEqual(r.lines.map((l) => [l.owner, l.group, l.vmName]), [['ann', 'dev', 'ann-web'], ['bob', null, 'bob-db']]);
  for (const l of r.lines) {
    const { vmId: _id, vmName: _n, ownerId: _o, owner: _w, groupId: _gi, group: _g, ...figures } = l;
    assert.deepEqual(figures, await expectedLine(l.vmId, r.until), l.vmName);
  }
  const ann = r.lines.find((l) => l.vmName === 'ann-web')!;
  for (const s of ['pending', 'prolog', 'boot', 'running', 'poweroff', 'suspended', 'saving']) assert.ok(ann.states[s] !== undefined, `ann-web was ${s}`);
  assert.ok(BigInt(ann.diskMibMs) > 0n && BigInt(ann.vcpuMs) > 0n);
  assert.notEqual(ann.cost, '0.0000', 'the configured prices are applied');
  assertSums(r);
  assert.deepEqual(r.users.map((u) => [u.owner, u.vms]), [['ann', 1], ['bob', 1]]);
  assert.deepEqual(r.groups.map((g) => [g.group, g.vms]), [['dev', 1], [null, 1]]);
  // bob's VM still runs: a later report charges it more.
  const later = await usage('admin').report({ month });
  assert.ok(BigInt(later.lines.find((l) => l.vmName === 'bob-db')!.vcpuMs) > BigInt(r.lines.find((l) => l.vmName === 'bob-db')!.vcpuMs));
  assert.equal(later.lines.find((l) => l.vmName === 'ann-web')!.cost, ann.cost, 'a terminated VM\'s line no longer moves');
});

test('who reads what: a user their own, a group admin the group\'s and its members\', others 404', async () => {
  const own = await usage('ann').report({ month });
  assert.deepEqual(own.lines.map((l) => l.vmName), ['ann-web']);
  assertSums(own);
  assert.deepEqual((await usage('bob').report({ month, user: 'me' })).lines.map((l) => l.vmName), ['bob-db']);
  assert.deepEqual((await usage('lead').report({ month, user: 'ann' })).lines.map((l) => l.vmName), ['ann-web']);
  const dev = await usage('lead').report({ month, group: 'dev' });
  assert.deepEqual(dev.lines.map((l) => l.vmName), ['ann-web']);
  assert.equal(dev.total.cost, own.total.cost);
  const adminDev = await usage('admin').report({ month, group: ids['dev']! });
  assert.deepEqual({ ...adminDev, until: dev.until }, dev, 'an admin gets the same group report');
  assert.deepEqual((await usage('lead').report({ month })).lines, [], 'lead\'s own: none');
  await remoteRejects(usage('bob').report({ month, user: 'ann' }), 404, 'NOT_FOUND');
  await remoteRejects(usage('ann').report({ month, user: 'bob' }), 404, 'NOT_FOUND');
  await remoteRejects(usage('ann').report({ month, group: 'dev' }), 404, 'NOT_FOUND', undefined, /group/);
  await remoteRejects(usage('lead').report({ month, user: 'bob' }), 404, 'NOT_FOUND');
});

test('bad input is a 400 naming the field, for everyone', async () => {
  const cases: [string, string, string][] = [
    ['admin', 'month=2026-13', 'month'], ['admin', 'month=abc', 'month'], ['ann', 'month=', 'month'], ['admin', '', 'month'],
    ['admin', `month=${month}&user=nobody`, 'user'], ['ann', `month=${month}&group=nogroup`, 'group'],
    ['admin', `month=${month}&user=ann&group=dev`, 'group'], ['admin', `month=${month}&sort=cost`, 'sort'],
  ];
  for (const [who, query, field] of cases) {
    const r = await raw(who, query);
    assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, 'VALIDATION_FAILED');
    assert.deepEqual(r.body.error?.details.issues?.map((i) => i.field), [field], query);
  }
});

test('nubo usage report: --json is the API\'s report; --csv has a header and one row per line with the same figures; a bad month exits 2', async () => {
  const cli = (...args: string[]) => runCli(['usage', 'report', ...args, '--url', cloud.controller.url, '--token', tokens['admin']!]);
  const j = await cli('--month', month, '--json');
  assert.equal(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout) as UsageReportView;
  const c = await cli('--month', month, '--csv');
  assert.equal(c.code, 0, c.stderr);
  const rows = c.stdout.trimEnd().split('\n').map((l) => l.split(','));
  assert.deepEqual(rows[0], ['month', 'owner', 'group', 'vm_id', 'vm_name', 'vcpu_hours', 'memory_gib_hours', 'disk_gib_hours', 'cost', 'currency']);
  const annRow = rows.find((r) => r[4] === 'ann-web')!;
  const annLine = report.lines.find((l) => l.vmName === 'ann-web')!;
  assert.deepEqual(annRow, [month, 'ann', 'dev', annLine.vmId, 'ann-web', annLine.vcpuHours, annLine.memoryGibHours, annLine.diskGibHours, annLine.cost, 'EUR']);
  assert.equal(rows.length, 1 + report.lines.length);
  const t = await cli('--month', month);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^ann\s+dev\s+ann-web\s/m);
  assert.match(t.stdout, /^all\s+2\s/m);
  const bad = await cli('--month', '2026-13');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /month/);
});

test('the records outlive a purge of the VM: the report does not change', async () => {
  const before = (await usage('admin').report({ month })).lines.find((l) => l.vmName === 'ann-web')!;
  await api('ann').purgeVms({ olderThanS: 0 });
  await remoteRejects(api('ann').getVm(vms['ann']!), 404, 'NOT_FOUND');
  const afterPurge = (await usage('admin').report({ month })).lines.find((l) => l.vmName === 'ann-web')!;
  assert.deepEqual(afterPurge, before);
});

test('the OpenAPI document describes GET /api/v1/usage with its query and report', async () => {
  const doc = (await (await fetch(`${cloud.controller.url}/api/v1/openapi.json`, { signal: AbortSignal.timeout(10_000) })).json()) as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string; required?: boolean }[]; responses: Record<string, unknown> }>>;
  };
  const op = doc.paths['/api/v1/usage']?.['get'];
  assert.ok(op, 'listed');
  assert.deepEqual(op.parameters?.filter((p) => p.in === 'query').map((p) => [p.name, p.required === true]).sort(), [['group', false], ['month', true], ['user', false]]);
  assert.ok(op.responses['200'] && op.responses['400'] && op.responses['404']);
});
