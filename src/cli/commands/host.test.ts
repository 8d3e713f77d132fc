import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { creds, runCli, startFakeApi, TOKEN, type FakeApi } from '../cli-test-kit.js';
import { host } from '../cli-fixtures.js';

const h1 = host();
const h2 = host({ id: 'host-2', name: 'h2', state: 'offline', lastHeartbeatAt: null, vms: 0 });
const h3 = host({ id: 'host-3', name: 'h3', vms: 0, standbySince: '2026-12-05T10:00:00.000Z' });
let api: FakeApi;
// h1's heartbeat is 3 s old when served, not when this file loaded: a CLI that starts slowly on a busy machine
// still prints `3s ago`.
let served: unknown;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/hosts': () => {
      served = [{ ...h1, lastHeartbeatAt: new Date(Date.now() - 3000).toISOString() }, h2, h3];
      return { body: served };
    },
    'GET /api/v1/hosts/host-1': () => ({ body: h1 }),
    'GET /api/v1/hosts/host-3': () => ({ body: h3 }),
    'GET /api/v1/hosts/host-3/ha': () => ({ body: { host: 'host-3', method: 'none', argv: [], labDir: null, timeoutMs: 30000, state: 'ok', incident: null, suspectedAt: null, fencingAt: null, fencedAt: null, recoveringAt: null, recoveredAt: null, attempts: 0, lastError: null, degraded: null, restarts: [] } }),
    'GET /api/v1/hosts/host-1/ha': () => ({ body: { host: 'host-1', method: 'none', argv: [], labDir: null, timeoutMs: 30000, state: 'ok', incident: null, suspectedAt: null, fencingAt: null, fencedAt: null, recoveringAt: null, recoveredAt: null, attempts: 0, lastError: null, degraded: null, restarts: [] } }),
    'POST /api/v1/hosts/host-2/disable': () => ({ body: { ...h2, state: 'disabled' } }),
    'PATCH /api/v1/hosts/host-1': (q) => ({ body: { ...h1, cpuOvercommit: (q.body as { cpuOvercommit: number | null }).cpuOvercommit } }),
  });
});
after(() => api.close());

test('host list: one row per host with capacity and heartbeat age', async () => {
  const r = await runCli(['host', 'list', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+NAME\s+CLUSTER\s+STATE\s+CPUS\s+MEMORY\s+VMS\s+HEARTBEAT\s+AGENT$/);
  assert.match(lines[1]!, /^host-1\s+h1\s+default\s+enabled\s+2\/8\s+512 MiB\/16 GiB\s+2\s+\ds ago\s+http:\/\/198\.18\.0\.2:7101$/);
  assert.match(lines[2]!, /^host-2\s+h2\s+default\s+offline\s+.*never\s+http:/);
  // A host DRS consolidation put on standby says so (placement takes it only when nothing else fits).
  assert.match(lines[3]!, /^host-3\s+h3\s+default\s+enabled, standby\s+2\/8/);
  assert.ok(!r.stdout.includes('\u001b['), 'no colors when stdout is not a TTY');
});

test('host list --json prints the served data', async () => {
  const r = await runCli(['host', 'list', '--json', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), served);
});

test('host show by name falls back from the id lookup to the list', async () => {
  const r = await runCli(['host', 'show', 'h1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^id:\s+host-1$/m);
  assert.match(r.stdout, /^memory:\s+512 MiB of 16 GiB reserved$/m);
  // The id lookup, the list, the host by id, then its HA and fencing state.
  assert.deepEqual(api.requests.slice(-4).map((q) => `${q.method} ${q.path}`), ['GET /api/v1/hosts/h1', 'GET /api/v1/hosts', 'GET /api/v1/hosts/host-1', 'GET /api/v1/hosts/host-1/ha']);
});

test('host show of a standby host prints since when, and how it ends', async () => {
  const r = await runCli(['host', 'show', 'host-3', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^standby:\s+since .+ \(DRS consolidation; `nubo drs wake` ends it\)$/m);
  const h = await runCli(['host', 'show', 'host-1', ...creds(api)]);
  assert.match(h.stdout, /^standby:\s+-$/m);
});

test('host disable sends POST …/disable', async () => {
  const r = await runCli(['host', 'disable', 'host-2', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests.at(-1), { method: 'POST', path: '/api/v1/hosts/host-2/disable', body: undefined, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'host h2 (host-2) is disabled\n');
});

test('host enable of an unknown host: 404 → exit 1', async () => {
  const r = await runCli(['host', 'enable', 'nope', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error \[NOT_FOUND\]: .*not found/);
});

test('host update --cpu-overcommit sends PATCH with the number, and `default` clears it', async () => {
  const r = await runCli(['host', 'update', 'host-1', '--cpu-overcommit', '4', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests.at(-1), { method: 'PATCH', path: '/api/v1/hosts/host-1', body: { cpuOvercommit: 4 }, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'host h1 (host-1): cpu overcommit 4 (8 CPUs: up to 32 vCPUs)\n');
  const d = await runCli(['host', 'update', 'host-1', '--cpu-overcommit', 'default', ...creds(api)]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(api.requests.at(-1)?.body, { cpuOvercommit: null });
  assert.equal(d.stdout, "host h1 (host-1): cpu overcommit: the controller's default\n");
});

test('host update with a bad or missing overcommit is a usage error and sends nothing', async () => {
  const before = api.requests.length;
  for (const bad of [['--cpu-overcommit', '0'], ['--cpu-overcommit', '-1'], ['--cpu-overcommit', 'lots'], ['--cpu-overcommit', '65'], []]) {
    const r = await runCli(['host', 'update', 'host-1', ...bad, ...creds(api)]);
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--cpu-overcommit/);
  }
  assert.equal(api.requests.length, before);
});
