import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiError, creds, emptyHome, runCli, startFakeApi, type FakeApi, type RecordedRequest } from './cli-test-kit.js';
import { host, image, template, vm } from './cli-fixtures.js';
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
    'POST /api/v1/vms/web-1/save-as': () => ({ status: 201, body: { image: image({ id: 'img-9', name: 'golden-disk' }) }, delayMs: 1500 }),
    'DELETE /api/v1/images/tiny': () => ({ status: 204 }),
    'DELETE /api/v1/templates/small': () => ({ status: 204 }),
    'POST /api/v1/hosts': (r) => ({ status: 201, body: host({ id: 'host-3', name: (r.body as { name: string }).name, state: 'init' }) }),
    'DELETE /api/v1/hosts/h1': () => apiError(409, 'CONFLICT', 'host with name "h1" still has 1 VM (web-1): migrate or terminate them first', { resource: 'host', field: 'name', value: 'h1' }),
    'DELETE /api/v1/hosts/h2': () => ({ body: host({ id: 'host-2', name: 'h2' }) }),
    'POST /api/v1/vms/purge': () => ({ body: { purged: [{ id: 'vm-7', name: 'old-1', owner: 'bob', terminatedAt: '2024-04-01T10:00:00.000Z' }] } }),
    'GET /api/v1/vms/3f2a': () => apiError(400, 'AMBIGUOUS_ID', 'vm 3f2a is ambiguous: it fits 2 vms (3f2a9c1e-1 (web-1), 3f2a77d0-2 (web-2)); give more of the id', { resource: 'vm', id: '3f2a', candidates: ['3f2a9c1e-1', '3f2a77d0-2'] }),
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

test('image delete and template delete take a name; the API resolves it', async () => {
  const i = await runCli(['image', 'delete', 'tiny', ...creds(api)]);
  assert.equal(i.code, 0, i.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/images/tiny');
  const t = await runCli(['template', 'delete', 'small', ...creds(api)]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/templates/small');
  assert.match(t.stdout, /deleted template small/);
});

test('host register reads the agent token from a file; host delete prints the host or the refusal', async () => {
  const tokenFile = join(emptyHome(), 'h3.token');
  writeFileSync(tokenFile, 'h3-agent-token-0123456789\n');
  const r = await runCli(['host', 'register', 'h3', '--agent-url', 'http://198.18.1.3:7481', '--agent-token-file', tokenFile, ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/hosts');
  assert.deepEqual(last().body, { name: 'h3', agentUrl: 'http://198.18.1.3:7481', agentToken: 'h3-agent-token-0123456789' });
  assert.match(r.stdout, /host h3 \(host-3\) registered: init/);
  const n = api.requests.length;
  const missing = await runCli(['host', 'register', 'h4', '--agent-url', 'http://198.18.1.4:7481', '--agent-token-file', join(emptyHome(), 'nope'), ...creds(api)]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--agent-token-file/);
  assert.equal(api.requests.length, n, 'nothing sent');
  const d = await runCli(['host', 'delete', 'h2', ...creds(api)]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/hosts/h2');
  assert.match(d.stdout, /deleted host h2 \(host-2\)/);
  const busy = await runCli(['host', 'delete', 'h1', ...creds(api)]);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /error \[CONFLICT\]: host with name "h1" still has 1 VM \(web-1\)/);
});

test('vm purge --older-than sends seconds; a bad duration is a usage error', async () => {
  const r = await runCli(['vm', 'purge', '--older-than', '7d', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/purge');
  assert.deepEqual(last().body, { olderThanS: 7 * 86_400 });
  assert.match(r.stdout, /^vm-7\s+old-1\s+bob\s+2024-04-01 10:00:00$/m);
  assert.match(r.stdout, /purged 1 terminated VM$/m);
  const all = await runCli(['vm', 'purge', ...creds(api)]);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(last().body, {});
  const n = api.requests.length;
  const bad = await runCli(['vm', 'purge', '--older-than', 'a week', ...creds(api)]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--older-than/);
  assert.equal(api.requests.length, n);
});

test('an ambiguous short id is a usage error listing the candidates', async () => {
  const r = await runCli(['vm', 'show', '3f2a', ...creds(api)]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error \[AMBIGUOUS_ID\]: vm 3f2a is ambiguous: .*3f2a9c1e-1 \(web-1\), 3f2a77d0-2 \(web-2\)/);
});

test('save-as says on stderr what it is waiting for once the copy takes a while (a spinner with the time on a terminal)', async () => {
  const r = await runCli(['vm', 'save-as', 'web-1', '--image', 'golden-disk', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'copying the disk of web-1 …\n');
  assert.match(r.stdout, /^image:\s+golden-disk \(img-9\)$/m);
});

const CLI = fileURLToPath(new URL('./nubo.js', import.meta.url));
