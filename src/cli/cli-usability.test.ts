import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiError, creds, emptyHome, runCli, startFakeApi, type FakeApi, type RecordedRequest } from './cli-test-kit.js';
import { template, vm } from './cli-fixtures.js';
import { journal, migration, MIGRATION_ID, succeeded } from './migration-fixtures.js';

// What a new user hit (issue 11, item 13), against a fake API.

const many = Array.from({ length: 4000 }, (_, i) => vm({ id: `vm-${i}`, name: `web-${i}` }));
const issues = [{ field: 'name', message: 'must be 1-63 chars of letters, digits and ._-' }, { field: 'vcpus', message: 'Too big: expected number to be <=64' }];
const FORWARD = ['reservation', 'prepared', 'precopy', 'stop-and-copy', 'transferred', 'committed', 'activated', 'cleaned'];
let polls = 0;
let api: FakeApi;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/vms': () => ({ body: many }),
    'POST /api/v1/vms': (r) => ((r.body as { name?: string }).name === 'refused'
      ? apiError(400, 'VALIDATION_FAILED', `invalid request body: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { location: 'body', issues })
      : { status: 201, body: vm({ id: 'vm-9', name: 'new-1', state: 'pending', host: null }) }),
    'GET /api/v1/vms/web-1/export': () => ({ text: 'vm ova bytes' }),
    'GET /api/v1/templates/small/export': () => ({ text: 'template ova bytes' }),
    'GET /api/v1/templates': () => ({ body: [template()] }),
    'POST /api/v1/vms/web-1/migrate': () => ({ status: 202, body: migration() }),
    [`GET /api/v1/migrations/${MIGRATION_ID}`]: () => ({ body: ++polls < 2 ? migration({ stage: 'prepared', journal: journal(['reservation', 'prepared']) }) : succeeded(FORWARD) }),
  });
});
after(() => api.close());

test('vm create --datastore sends the datastore; a bad one is a usage error and nothing is sent', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--datastore', 'shared', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(last().body, { template: 'small', datastore: 'shared' });
  const n = api.requests.length;
  const bad = await runCli(['vm', 'create', '--template', 'small', '--datastore', 'nfs', ...creds(api)]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--datastore/);
  assert.equal(api.requests.length, n);
});

test('a 400 names each offending field once', async () => {
  const r = await runCli(['vm', 'create', '--template', 'small', '--name', 'refused', ...creds(api)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^error \[VALIDATION_FAILED\]: invalid request body$/m);
  for (const i of issues) assert.equal(r.stderr.split(i.message).length - 1, 1, `"${i.message}" printed once in:\n${r.stderr}`);
  assert.match(r.stderr, /^ {2}name: must be 1-63 chars/m);
  assert.match(r.stderr, /^ {2}vcpus: Too big/m);
});

test('nubo … | head: the closed pipe ends the command quietly', async () => {
  for (const args of [['vm', 'list'], ['vm', 'list', '--json']]) {
    // A shell pipe (a socket pair, as spawn makes, fails differently): head reads its line and goes.
    const script = 'node "$@" | head -1; echo "status ${PIPESTATUS[0]}" >&2';
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', script, 'bash', CLI, ...args, ...creds(api)], { env: { PATH: process.env['PATH'] ?? '', NUBO_HOME: emptyHome() }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', () => resolve({ stdout, stderr }));
    });
    assert.equal(r.stdout.split('\n').length, 2, r.stdout.slice(0, 200));
    assert.equal(r.stderr, 'status 0\n', `${args.join(' ')}: no stack trace, exit 0`);
  }
});

test('vm export and template export both take the file as an argument or as -o; exactly one', async () => {
  const dir = emptyHome();
  const a = await runCli(['vm', 'export', 'web-1', join(dir, 'a.ova'), ...creds(api)]);
  assert.equal(a.code, 0, a.stderr);
  const b = await runCli(['vm', 'export', 'web-1', '-o', join(dir, 'b.ova'), ...creds(api)]);
  assert.equal(b.code, 0, b.stderr);
  const c = await runCli(['template', 'export', 'small', join(dir, 'c.ova'), ...creds(api)]);
  assert.equal(c.code, 0, c.stderr);
  const d = await runCli(['template', 'export', 'small', '--output', join(dir, 'd.ova'), ...creds(api)]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(readFileSync(join(dir, 'a.ova'), 'utf8'), 'vm ova bytes');
  assert.equal(readFileSync(join(dir, 'b.ova'), 'utf8'), 'vm ova bytes');
  assert.equal(readFileSync(join(dir, 'c.ova'), 'utf8'), 'template ova bytes');
  assert.equal(readFileSync(join(dir, 'd.ova'), 'utf8'), 'template ova bytes');
  const n = api.requests.length;
  for (const args of [['vm', 'export', 'web-1'], ['template', 'export', 'small'], ['vm', 'export', 'web-1', join(dir, 'e.ova'), '-o', join(dir, 'f.ova')]]) {
    const r = await runCli([...args, ...creds(api)]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--output/);
  }
  assert.equal(api.requests.length, n, 'nothing asked of the API');
  for (const cmd of [['vm', 'export'], ['template', 'export']]) {
    const h = await runCli([...cmd, '--help']);
    assert.match(h.stdout, /\[file\]/);
    assert.match(h.stdout, /-o, --output <file>/);
  }
});

test('export into a missing directory names the user\'s path, not a temporary file, and asks nothing of the API', async () => {
  const dest = join(emptyHome(), 'no-such-dir', 'web.ova');
  const n = api.requests.length;
  for (const args of [['vm', 'export', 'web-1', dest], ['template', 'export', 'small', '-o', dest]]) {
    const r = await runCli([...args, ...creds(api)]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error \[LOCAL_FILE\]: .*no-such-dir\/web\.ova/m);
    assert.doesNotMatch(r.stderr, /\.part/);
    assert.equal(existsSync(dest), false);
  }
  assert.equal(api.requests.length, n);
});

test('vm migrate --wait says `succeeded` once', async () => {
  const r = await runCli(['vm', 'migrate', 'web-1', '--wait', '--poll-interval', '20', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const all = `${r.stderr}${r.stdout}`;
  assert.equal(all.split('succeeded').length - 1, 1, all);
  assert.match(r.stdout, /^migration 3f2a9c1e of web-1 succeeded: h1 → h2$/m);
  assert.match(r.stderr, /^ {2}\+2\.8 s\s+cleaned$/m);
});

const CLI = fileURLToPath(new URL('./nubo.js', import.meta.url));
