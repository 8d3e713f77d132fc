import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiError, creds, runCli, startFakeApi, TOKEN, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { at, journal, migration, MIGRATION_ID, POLICY, precopyStats, succeeded } from '../migration-fixtures.js';

const RUNNING_ID = 'abcdef12-0000-4000-8000-000000000001';
const TWIN_ID = 'abcdef12-0000-4000-8000-000000000002';
const ABORTED_ID = '77777777-0000-4000-8000-000000000003';
const FORWARD = ['reservation', 'prepared', 'precopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'];

const done = succeeded(FORWARD, {
  journal: journal(FORWARD).map((e) => (e.stage === 'prepared' ? { ...e, data: { uri: 'tcp:198.18.1.2:49152', storage: 'shared', tls: true } } : e)),
});
// Started 65 s before it is served, not before this file loaded: a CLI that starts slowly on a busy machine
// still prints `1m 05s`. `running` is what was served last.
const runningAt = (now: number): ReturnType<typeof migration> => migration({
  id: RUNNING_ID, vm: 'db-1', vmId: 'vm-2', startedAt: new Date(now - 65_000).toISOString(), stage: 'precopy',
  journal: [{ stage: 'reservation', at: new Date(now - 65_000).toISOString() }], stats: precopyStats(64, 64, 2),
});
let running = runningAt(Date.now());
const serveRunning = (): ReturnType<typeof migration> => (running = runningAt(Date.now()));
const aborted = migration({
  id: ABORTED_ID, vm: 'db-1', vmId: 'vm-2', stage: 'aborting', state: 'aborted', finishedAt: at(1500), reason: 'cancelled by the user; nothing was committed',
  journal: journal(['reservation', 'prepared', 'precopy', 'aborting']), stats: { ...precopyStats(60, 90, 4), destReleased: true },
});
const twin = migration({ id: TWIN_ID, vm: 'db-1', state: 'failed', stage: 'aborting' });

let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/migrations': (r) =>
      r.path.includes('state=running') ? { body: [serveRunning()] } : r.path.includes('vm=nobody') ? { body: [] } : { body: [done, serveRunning(), aborted, twin] },
    [`GET /api/v1/migrations/${MIGRATION_ID}`]: () => ({ body: done }),
    [`GET /api/v1/migrations/${RUNNING_ID}`]: () => ({ body: serveRunning() }),
    [`GET /api/v1/migrations/${ABORTED_ID}`]: () => ({ body: aborted }),
    [`POST /api/v1/migrations/${RUNNING_ID}/cancel`]: () => ({ status: 202, body: serveRunning() }),
    [`POST /api/v1/migrations/${MIGRATION_ID}/cancel`]: () => apiError(409, 'MIGRATION_NOT_CANCELLABLE', `migration ${MIGRATION_ID} cannot be cancelled: it already ended (succeeded)`),
    [`POST /api/v1/migrations/${ABORTED_ID}/cancel`]: () => apiError(403, 'FORBIDDEN', 'cancelling a migration is for admins'),
  });
});
after(() => api.close());

test('migration list: a row per migration with route, stage, state, times; filters as query parameters; --json as served', async () => {
  const r = await runCli(['migration', 'list', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID\s+VM\s+ROUTE\s+STAGE\s+STATE\s+STARTED\s+TIME\s+DOWNTIME$/);
  assert.match(lines[1]!, /^3f2a9c1e\s+web-1\s+h1 → h2\s+cleaned\s+succeeded\s+2024-05-01 12:00:00\s+4\.2 s\s+38 ms$/);
  // Still running: the time so far, no downtime yet.
  assert.match(lines[2]!, /^abcdef12\s+db-1\s+h1 → h2\s+precopy\s+running\s+\S+ \S+\s+1m 0[5-9]s\s+-$/);
  assert.match(lines[3]!, /^77777777\s+db-1\s+h1 → h2\s+aborting\s+aborted\s+2024-05-01 12:00:00\s+1\.5 s\s+-$/);
  const f = await runCli(['migration', 'list', '--vm', 'db-1', '--state', 'running', '--json', ...creds(api)]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(last().path, '/api/v1/migrations?vm=db-1&state=running');
  assert.deepEqual(JSON.parse(f.stdout), [running]);
  const none = await runCli(['migration', 'list', '--vm', 'nobody', ...creds(api)]);
  assert.equal(none.stdout, '(none)\n');
  const n = api.requests.length;
  const bad = await runCli(['migration', 'list', '--state', 'paused', ...creds(api)]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /argument 'paused' is invalid/);
  assert.equal(api.requests.length, n);
});

test('migration show: fields, the journal relative to the start, stats, convergence, policy', async () => {
  const r = await runCli(['migration', 'show', MIGRATION_ID, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^route:\s+h1 → h2$/m);
  assert.match(r.stdout, /^state:\s+succeeded$/m);
  assert.match(r.stdout, /^total time:\s+4\.2 s$/m);
  assert.match(r.stdout, /^downtime:\s+38 ms$/m);
  assert.match(r.stdout, /\njournal:\nAT\s+STAGE\s+DATA\n\+0\.0 s\s+reservation\s+-\n\+0\.4 s\s+prepared\s+uri=tcp:198\.18\.1\.2:49152 storage=shared tls=true\n/);
  assert.match(r.stdout, /^\+2\.8 s\s+cleaned\s+-$/m);
  assert.match(r.stdout, /\nstats:\n(.+\n)*passes:\s+3\n/);
  assert.match(r.stdout, /^RAM sent:\s+100%$/m);
  assert.match(r.stdout, /^throughput:\s+100\.0 MB\/s$/m);
  assert.match(r.stdout, /\nconvergence:\nAT\s+ACTION\s+REASON\n\+2\.1 s\s+raise-downtime\s+remaining 12 MiB would take 80 ms > 50 ms\n/);
  assert.match(r.stdout, /\npolicy:\nbandwidth:\s+1024 MiB\/s\ndowntime:\s+300 ms\nmax downtime:\s+2000 ms\nauto-converge:\s+on\nxbzrle:\s+off\npostcopy:\s+off\ntimeout:\s+600 s\n$/);
  const j = await runCli(['migration', 'show', MIGRATION_ID, '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), done);
  assert.deepEqual(done.policy, POLICY);
});

test('migration show of an aborted migration: its reason and the numbers the engine added', async () => {
  const r = await runCli(['migration', 'show', '77777777', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^reason:\s+cancelled by the user; nothing was committed$/m);
  assert.match(r.stdout, /^\+1\.2 s\s+aborting\s+-$/m);
  assert.match(r.stdout, /^destReleased:\s+true$/m);
  assert.match(r.stdout, /\nconvergence:\n\(none\)\n/);
});

test('the short id of the tables works; an ambiguous one is a usage error (exit 2), an unknown one not found (exit 1)', async () => {
  const r = await runCli(['migration', 'show', '3f2a9c1e', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests.slice(-3).map((q) => `${q.method} ${q.path}`), [
    'GET /api/v1/migrations/3f2a9c1e', 'GET /api/v1/migrations', `GET /api/v1/migrations/${MIGRATION_ID}`,
  ]);
  const amb = await runCli(['migration', 'show', 'abcdef12', ...creds(api)]);
  assert.equal(amb.code, 2);
  assert.match(amb.stderr, /^error \[AMBIGUOUS_MIGRATION_ID\]: abcdef12 is the start of 2 migration ids/m);
  const unknown = await runCli(['migration', 'show', 'feedbeef', ...creds(api)]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^error \[NOT_FOUND\]/m);
});

test('migration cancel POSTs …/cancel and says it rolls back; too late → 409 exit 1; not an admin → exit 2', async () => {
  const r = await runCli(['migration', 'cancel', RUNNING_ID, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last(), { method: 'POST', path: `/api/v1/migrations/${RUNNING_ID}/cancel`, body: undefined, auth: `Bearer ${TOKEN}` });
  assert.equal(r.stdout, 'migration abcdef12 of db-1 (h1 → h2): cancel requested at precopy; it rolls back to h1 — `nubo migration show abcdef12` follows it\n');
  const j = await runCli(['migration', 'cancel', RUNNING_ID, '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), running);
  const late = await runCli(['migration', 'cancel', '3f2a9c1e', ...creds(api)]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /^error \[MIGRATION_NOT_CANCELLABLE\]: migration 3f2a9c1e-.* cannot be cancelled: it already ended \(succeeded\)$/m);
  const user = await runCli(['migration', 'cancel', ABORTED_ID, ...creds(api)]);
  assert.equal(user.code, 2);
  assert.match(user.stderr, /^error \[FORBIDDEN\]: cancelling a migration is for admins$/m);
});

test('migration --help lists the stages in order', async () => {
  const r = await runCli(['migration', '--help']);
  assert.equal(r.code, 0);
  const stages = [...r.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]);
  assert.deepEqual(stages.slice(-12), ['reservation', 'prepared', 'mirroring', 'precopy', 'postcopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned', 'aborting', 'aborted']);
});
