import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MigrationView } from '../../contract/migration-schemas.js';
import { apiError, creds, emptyHome, runCli, startFakeApi, type FakeApi, type RecordedRequest, type Routes } from '../cli-test-kit.js';
import { at, journal, migration, MIGRATION_ID, precopyStats, succeeded } from '../migration-fixtures.js';

const MiB = 1024 * 1024;
const fast = ['--poll-interval', '20'];
const FORWARD = ['reservation', 'prepared', 'precopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'];

/** GET answers walk through `views`, one per request, then stay on the last. */
function walk(views: readonly MigrationView[]): Routes[string] {
  let i = 0;
  return () => ({ body: views[Math.min(i++, views.length - 1)] });
}

const idOf = (n: number): string => `${String(n).repeat(8)}-0000-4000-8000-000000000000`;

/** web-1: shared storage, pre-copy converges after a raised downtime. */
const ok = [
  migration({ stage: 'prepared', journal: journal(['reservation', 'prepared']) }),
  migration({ stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(40, 60, 1) }),
  migration({ stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(120, 10, 3) }),
  succeeded(FORWARD),
];
/** big-1: local disks, mirrored first. */
const mirrored = (id: string): MigrationView[] => [
  migration({ id, vm: 'big-1', stage: 'mirroring', journal: journal(['reservation', 'prepared', 'mirroring']), stats: { diskCopiedBytes: 16 * MiB, diskTotalBytes: 64 * MiB } }),
  migration({ id, vm: 'big-1', stage: 'mirroring', journal: journal(['reservation', 'prepared', 'mirroring']), stats: { diskCopiedBytes: 64 * MiB, diskTotalBytes: 64 * MiB } }),
  succeeded(['reservation', 'prepared', 'mirroring', ...FORWARD.slice(2)], { id, vm: 'big-1', stats: { ...succeeded(FORWARD).stats, diskCopiedBytes: 64 * MiB, diskTotalBytes: 64 * MiB } }),
];
/** busy-1: cancelled during pre-copy, rolled back. */
const cancelled = (id: string): MigrationView[] => [
  migration({ id, vm: 'busy-1', stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(40, 90, 2) }),
  migration({ id, vm: 'busy-1', stage: 'aborting', journal: journal(['reservation', 'prepared', 'precopy', 'aborting']), stats: precopyStats(60, 90, 4) }),
  migration({
    id, vm: 'busy-1', stage: 'aborting', state: 'aborted', finishedAt: at(1500), journal: journal(['reservation', 'prepared', 'precopy', 'aborting']),
    reason: 'cancelled by the user; nothing was committed: roll back to the source', stats: precopyStats(60, 90, 4),
  }),
];
/** hot-1: the convergence policy gave up. */
const gaveUp = (id: string): MigrationView[] => [
  migration({
    id, vm: 'hot-1', stage: 'aborting', state: 'failed', finishedAt: at(9000), journal: journal(['reservation', 'prepared', 'precopy', 'aborting']),
    reason: 'the convergence policy gave up: dirty rate 900 MiB/s above bandwidth at the highest downtime', stats: precopyStats(500, 100, 12),
  }),
];
/** slow-1: never ends. */
const stuck = (id: string): MigrationView[] => [migration({ id, vm: 'slow-1', stage: 'precopy', journal: journal(['reservation', 'prepared', 'precopy']), stats: precopyStats(10, 100, 1) })];

const scenarios: Record<string, { id: string; views: MigrationView[] }> = {
  'web-1': { id: MIGRATION_ID, views: ok },
  'big-1': { id: idOf(2), views: mirrored(idOf(2)) },
  'busy-1': { id: idOf(3), views: cancelled(idOf(3)) },
  'hot-1': { id: idOf(4), views: gaveUp(idOf(4)) },
  'slow-1': { id: idOf(5), views: stuck(idOf(5)) },
};

let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
const polls = (id: string): number => api.requests.filter((q) => q.path === `/api/v1/migrations/${id}`).length;
const cancels = (): number => api.requests.filter((q) => q.path.endsWith('/cancel')).length;

before(async () => {
  const routes: Routes = {
    'POST /api/v1/vms/db-1/migrate': () => apiError(409, 'MIGRATION_REFUSED', 'host h2 does not offer CPU model Skylake-Server', { check: 'cpu-model', field: 'to' }),
    'POST /api/v1/vms/tiny-1/migrate': () => apiError(409, 'MIGRATION_REFUSED', 'no host can take the VM: h2: 64 MiB free, 128 MiB needed', { check: 'capacity', field: 'to' }),
    'POST /api/v1/vms/mine-1/migrate': () => apiError(403, 'FORBIDDEN', 'migrating a VM is for admins'),
    'POST /api/v1/vms/odd-1/migrate': () => apiError(400, 'VALIDATION_FAILED', 'invalid request', { issues: [{ field: 'policy.maxBandwidthMiBps', message: 'Too big' }] }),
  };
  for (const [vm, s] of Object.entries(scenarios)) {
    // The start answer: the migration as it begins (stage reservation).
    routes[`POST /api/v1/vms/${vm}/migrate`] = () => ({ status: 202, body: migration({ id: s.id, vm }) });
    routes[`GET /api/v1/migrations/${s.id}`] = walk(s.views);
  }
  api = await startFakeApi(routes);
});
after(() => api.close());

test('vm migrate sends the flags as policy fields, and only those given', async () => {
  const r = await runCli([
    'vm', 'migrate', 'web-1', '--to', 'h2', '--bandwidth', '512', '--downtime', '100', '--max-downtime', '900',
    '--no-auto-converge', '--xbzrle', '--postcopy', '--migration-timeout', '120', ...creds(api),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/migrate');
  assert.deepEqual(last().body, {
    to: 'h2',
    policy: { maxBandwidthMiBps: 512, downtimeMs: 100, maxDowntimeMs: 900, autoConverge: false, xbzrle: true, postcopy: true, timeoutS: 120 },
  });
  // Without --to the scheduler picks; without policy flags the controller's defaults apply.
  const minimal = await runCli(['vm', 'migrate', 'web-1', ...creds(api)]);
  assert.equal(minimal.code, 0, minimal.stderr);
  assert.deepEqual(last().body, {});
  const some = await runCli(['vm', 'migrate', 'web-1', '--downtime', '500', ...creds(api)]);
  assert.equal(some.code, 0, some.stderr);
  assert.deepEqual(last().body, { policy: { downtimeMs: 500 } });
  // --force: past the VM's requirements, to the host --to names.
  const forced = await runCli(['vm', 'migrate', 'web-1', '--to', 'h2', '--force', ...creds(api)]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(last().body, { to: 'h2', force: true });
});

test('vm migrate without --wait prints the migration as it starts; --json the API answer', async () => {
  const r = await runCli(['vm', 'migrate', 'web-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ID\s+VM\s+ROUTE\s+STAGE\s+STATE\s+STARTED\s+TIME\s+DOWNTIME\n/);
  assert.match(r.stdout, /^3f2a9c1e\s+web-1\s+h1 → h2\s+reservation\s+running\s+2024-05-01 12:00:00\s+/m);
  assert.match(r.stderr, /nubo migration show 3f2a9c1e/);
  const j = await runCli(['vm', 'migrate', 'web-1', '--json', ...creds(api)]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(JSON.parse(j.stdout), migration({ vm: 'web-1' }));
  assert.equal(polls(MIGRATION_ID), 0, 'no --wait, no polling');
});

test('vm migrate --wait follows the stages to success and prints a summary', async () => {
  const before = polls(MIGRATION_ID);
  const r = await runCli(['vm', 'migrate', 'web-1', '--to', 'h2', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  // Not a TTY: a line per stage (from the journal, so none is missed between polls), on stderr.
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], 'migration 3f2a9c1e of web-1: h1 → h2');
  assert.deepEqual(lines.slice(1).map((l) => l.trim().split(/\s{2,}/)), [
    ['+0.0 s', 'reservation'],
    ['+0.4 s', 'prepared'],
    ['+0.8 s', 'precopy', 'RAM 40% sent · dirty 2 MiB/s · pass 1 · 100.0 MB/s'],
    ['+1.2 s', 'stop-and-copy'],
    ['+1.6 s', 'transferred'],
    ['+2.0 s', 'committed'],
    ['+2.4 s', 'activated'],
    ['+2.8 s', 'cleaned'],
  ]);
  assert.equal(polls(MIGRATION_ID) - before, 4);
  assert.match(r.stdout, /^migration 3f2a9c1e of web-1 succeeded: h1 → h2\n/);
  assert.match(r.stdout, /^total time:\s+4\.2 s$/m);
  assert.match(r.stdout, /^downtime:\s+38 ms$/m);
  assert.match(r.stdout, /^transferred:\s+150 MiB$/m);
  assert.match(r.stdout, /^passes:\s+3$/m);
  assert.match(r.stdout, /^final dirty rate:\s+1\.5 MiB\/s$/m);
  assert.match(r.stdout, /^convergence:\s+1 action\n {2}\+2\.1 s raise-downtime: remaining 12 MiB would take 80 ms > 50 ms$/m);
});

test('vm migrate --wait shows the disk copy while mirroring non-shared disks', async () => {
  const r = await runCli(['vm', 'migrate', 'big-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^ {2}\+0\.8 s\s+mirroring {2}disk 25% \(16 MiB of 64 MiB\)$/m);
  assert.match(r.stderr, /^ {2}\+1\.2 s\s+precopy$/m);
  assert.match(r.stdout, /^disks copied:\s+64 MiB$/m);
});

test('vm migrate --wait --json prints the migration as it ended', async () => {
  const r = await runCli(['vm', 'migrate', 'web-1', '--wait', '--json', ...fast, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), succeeded(FORWARD));
});

test('vm migrate --wait: an aborted migration exits 1 with its reason and where the VM is', async () => {
  const r = await runCli(['vm', 'migrate', 'busy-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ {2}\+1\.2 s\s+aborting$/m);
  assert.match(r.stderr, /^ {2}\+1\.5 s\s+aborted: cancelled by the user; nothing was committed: roll back to the source$/m);
  assert.match(r.stderr, /^error \[MIGRATION_ABORTED\]: migration 33333333 of busy-1 aborted at aborting: cancelled by the user; nothing was committed: roll back to the source; the VM stays on h1$/m);
  assert.equal(r.stdout, '');
  const f = await runCli(['vm', 'migrate', 'hot-1', '--wait', ...fast, ...creds(api)]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /^error \[MIGRATION_FAILED\]: migration 44444444 of hot-1 failed at aborting: the convergence policy gave up: dirty rate 900 MiB\/s above bandwidth at the highest downtime; the VM stays on h1$/m);
  const j = await runCli(['vm', 'migrate', 'hot-1', '--wait', '--json', ...fast, ...creds(api)]);
  assert.equal(j.code, 1);
  assert.equal((JSON.parse(j.stdout) as MigrationView).state, 'failed');
});

test('vm migrate --wait --timeout stops waiting (exit 1) but not the migration', async () => {
  const n = cancels();
  const r = await runCli(['vm', 'migrate', 'slow-1', '--wait', '--timeout', '1', ...fast, ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /stopped waiting; migration 55555555 goes on \(`nubo migration show 55555555` follows it, `nubo migration cancel 55555555` stops it\)/);
  assert.match(r.stderr, /error \[TIMEOUT\]: waiting for migration 55555555 of slow-1 to end \(it is at precopy\) timed out after 1000 ms/);
  assert.equal(cancels(), n);
});

test('Ctrl-C during vm migrate --wait exits 130 and leaves the migration running', async () => {
  const n = cancels();
  const cli = fileURLToPath(new URL('../nubo.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'vm', 'migrate', 'slow-1', '--wait', ...fast, ...creds(api)], { env: { PATH: process.env['PATH'] ?? '', NUBO_HOME: emptyHome() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('precopy') && child.signalCode === null && !child.killed) child.kill('SIGINT');
    });
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopped waiting; migration 55555555 goes on/);
  assert.equal(cancels(), n, 'Ctrl-C does not cancel the migration');
});

test('a refused migration prints the controller\'s message with its check and the flag (exit 1)', async () => {
  const r = await runCli(['vm', 'migrate', 'db-1', '--to', 'h2', '--wait', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error \[MIGRATION_REFUSED\]: host h2 does not offer CPU model Skylake-Server \[check: cpu-model; field: to \(--to\)\]$/m);
  assert.equal(r.stdout, '');
  const c = await runCli(['vm', 'migrate', 'tiny-1', ...creds(api)]);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /^error \[MIGRATION_REFUSED\]: no host can take the VM: h2: 64 MiB free, 128 MiB needed \[check: capacity; field: to \(--to\)\]$/m);
});

test('forbidden (not an admin) and invalid requests exit 2', async () => {
  const f = await runCli(['vm', 'migrate', 'mine-1', ...creds(api)]);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /^error \[FORBIDDEN\]: migrating a VM is for admins$/m);
  const v = await runCli(['vm', 'migrate', 'odd-1', '--bandwidth', '99999', ...creds(api)]);
  assert.equal(v.code, 2);
  assert.match(v.stderr, /^ {2}policy\.maxBandwidthMiBps: Too big$/m);
});

test('bad flags are usage errors (exit 2) naming the flag, and nothing is sent', async () => {
  const n = api.requests.length;
  const cases: [string[], RegExp][] = [
    [['--bandwidth', '-1'], /option '--bandwidth <MiB\/s>' argument '-1' is invalid\. must be at least 1 MiB\/s/],
    [['--bandwidth', 'fast'], /option '--bandwidth <MiB\/s>' argument 'fast' is invalid\. must be a number/],
    [['--bandwidth', '512.5'], /option '--bandwidth <MiB\/s>' argument '512\.5' is invalid\. must be a whole number/],
    [['--downtime', '0'], /option '--downtime <ms>' argument '0' is invalid\. must be at least 10 ms/],
    [['--max-downtime', '1.5'], /option '--max-downtime <ms>' argument '1\.5' is invalid/],
    [['--migration-timeout', '-5'], /option '--migration-timeout <s>' argument '-5' is invalid/],
    [['--migration-timeout', ''], /option '--migration-timeout <s>' argument '' is invalid/],
    [['--downtime', '800', '--max-downtime', '500'], /error \[BAD_FLAGS\]: --max-downtime 500 is below --downtime 800/],
    [['--auto-converge'], /unknown option '--auto-converge'/],
    [['--force'], /error \[BAD_FLAGS\]: --force overrides the requirements for an explicit destination: give --to as well/],
  ];
  for (const [flags, message] of cases) {
    const r = await runCli(['vm', 'migrate', 'web-1', ...flags, ...creds(api)]);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const noVm = await runCli(['vm', 'migrate', ...creds(api)]);
  assert.equal(noVm.code, 2);
  assert.equal(api.requests.length, n);
});

test('vm migrate --help names the defaults (the controller\'s) and what Ctrl-C does', async () => {
  const r = await runCli(['vm', 'migrate', '--help']);
  assert.equal(r.code, 0);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--to <host> destination host, by name or id \(default: the scheduler picks one by the placement rules\)/);
  assert.match(help, /--bandwidth <MiB\/s> maximum bandwidth of the migration stream and disk copies \(default: 1024\)/);
  assert.match(help, /--downtime <ms> .* \(default: 300\)/);
  assert.match(help, /--max-downtime <ms> .* \(default: 2000, or --downtime if higher\)/);
  assert.match(help, /--no-auto-converge .* \(default: throttle\)/);
  assert.match(help, /--xbzrle .* \(default: off\)/);
  assert.match(help, /--postcopy .* \(default: off\)/);
  assert.match(help, /--migration-timeout <s> .* \(default: 600\)/);
  assert.match(help, /Ctrl-C \(exit 130\) or --timeout only stop the waiting: the migration goes on; `nubo migration cancel <id>` stops it/);
});
