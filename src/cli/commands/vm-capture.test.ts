import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiError, creds, emptyHome, runCli, startFakeApi, type FakeApi, type RecordedRequest } from '../cli-test-kit.js';
import { image, template, vm } from '../cli-fixtures.js';

const saved = { image: image({ id: 'img-9', name: 'golden-disk', sizeBytes: 20 * 1024 * 1024 }), template: template({ id: 'tpl-9', name: 'golden', image: 'golden-disk' }) };
const copy = vm({ id: 'vm-2', name: 'copy', state: 'pending', host: null, allowedActions: ['terminate'] });
let api: FakeApi;
let polls = 0;
const last = (): RecordedRequest => api.requests.at(-1)!;
before(async () => {
  api = await startFakeApi({
    'POST /api/v1/vms/web-1/save-as': (r) => ({ status: 201, body: (r.body as { template?: string }).template === undefined ? { image: saved.image } : saved }),
    'POST /api/v1/vms/slow/save-as': () => ({ status: 201, body: { image: saved.image }, delayMs: 1500 }),
    'POST /api/v1/vms/nosuch/clone': () => apiError(404, 'NOT_FOUND', 'vm nosuch not found', { resource: 'vm', id: 'nosuch' }),
    'POST /api/v1/vms/stuck/save-as': () => apiError(409, 'INVALID_STATE', 'cannot save-as VM in state pending (allowed from: running, poweroff, suspended)', { state: 'pending' }),
    'POST /api/v1/vms/web-1/clone': (r) => ((r.body as { name: string }).name === 'bad name'
      ? apiError(400, 'VALIDATION_FAILED', 'invalid request: name: must be 1-63 chars', { issues: [{ field: 'name', message: 'must be 1-63 chars' }] })
      : { status: 201, body: copy }),
    'GET /api/v1/vms/vm-2': () => ({ body: { ...copy, state: ++polls < 2 ? 'boot' : 'running', host: 'h1', nics: [], history: [] } }),
    'GET /api/v1/vms/web-1/export': () => ({ text: 'ova bytes' }),
    'GET /api/v1/vms/gone/export': () => apiError(404, 'NOT_FOUND', 'vm gone not found', { resource: 'vm', id: 'gone' }),
  });
});
after(() => api.close());

test('vm save-as sends the image and template names; prints what was made, or the JSON', async () => {
  const r = await runCli(['vm', 'save-as', 'web-1', '--image', 'golden-disk', '--template', 'golden', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/save-as');
  assert.deepEqual(last().body, { image: 'golden-disk', template: 'golden' });
  assert.match(r.stdout, /^image:?\s+golden-disk \(img-9\)$/m);
  assert.match(r.stdout, /^template:?\s+golden \(tpl-9\)$/m);
  const j = await runCli(['vm', 'save-as', 'web-1', '--image', 'golden-disk', '--json', ...creds(api)]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(last().body, { image: 'golden-disk' });
  assert.deepEqual(JSON.parse(j.stdout), { image: saved.image });
  const n = api.requests.length;
  const missing = await runCli(['vm', 'save-as', 'web-1', ...creds(api)]);
  assert.equal(missing.code, 2, 'no --image: a usage error');
  assert.match(missing.stderr, /--image/);
  assert.equal(api.requests.length, n, 'nothing sent');
  const stuck = await runCli(['vm', 'save-as', 'stuck', '--image', 'x', ...creds(api)]);
  assert.equal(stuck.code, 1);
  assert.match(stuck.stderr, /INVALID_STATE.*state pending/);
  assert.doesNotMatch(stuck.stderr, /copying/, 'a refusal is all there is to see: no copy was under way');
  // A copy that takes a while says so (in a pipe: one line) before its result.
  const slow = await runCli(['vm', 'save-as', 'slow', '--image', 'golden-disk', ...creds(api)]);
  assert.equal(slow.code, 0, slow.stderr);
  assert.equal(slow.stderr, 'copying the disk of slow …\n');
});

test('vm clone of a VM the server does not know: its refusal alone, no copy announced', async () => {
  const r = await runCli(['vm', 'clone', 'nosuch', 'copy', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error \[NOT_FOUND\]: vm nosuch not found$/m);
  assert.doesNotMatch(r.stderr, /copying/);
});

test('vm clone sends the name, prints the new VM, and --wait follows it to running', async () => {
  const r = await runCli(['vm', 'clone', 'web-1', 'copy', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/vms/web-1/clone');
  assert.deepEqual(last().body, { name: 'copy' });
  assert.match(r.stdout, /copy\s+pending/);
  const w = await runCli(['vm', 'clone', 'web-1', 'copy', '--wait', '--poll-interval', '10', '--json', ...creds(api)]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal((JSON.parse(w.stdout) as { state: string }).state, 'running');
  assert.equal(`${last().method} ${last().path}`, 'GET /api/v1/vms/vm-2');
  const bad = await runCli(['vm', 'clone', 'web-1', 'bad name', ...creds(api)]);
  assert.equal(bad.code, 2, 'a 400 is invalid input');
  assert.match(bad.stderr, /VALIDATION_FAILED/);
  const n = api.requests.length;
  assert.equal((await runCli(['vm', 'clone', 'web-1', ...creds(api)])).code, 2, 'no name: a usage error');
  assert.equal(api.requests.length, n, 'nothing sent');
});

test('vm export writes the OVA to the file, whole or not at all', async () => {
  const dir = emptyHome();
  const out = join(dir, 'web-1.ova');
  const e = await runCli(['vm', 'export', 'web-1', out, ...creds(api)]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(`${last().method} ${last().path}`, 'GET /api/v1/vms/web-1/export');
  assert.equal(readFileSync(out, 'utf8'), 'ova bytes');
  assert.match(e.stdout, /exported VM web-1 to .*web-1\.ova \(9 B\)/);
  const gone = await runCli(['vm', 'export', 'gone', join(dir, 'gone.ova'), ...creds(api)]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /NOT_FOUND.*vm gone not found/);
  assert.equal(existsSync(join(dir, 'gone.ova')), false);
  assert.deepEqual(readdirSync(dir), ['web-1.ova'], 'no partial file');
  // An existing file is refused, not overwritten, before anything is asked of the server; --force overwrites it.
  writeFileSync(out, 'mine');
  const n = api.requests.length;
  const again = await runCli(['vm', 'export', 'web-1', '-o', out, ...creds(api)]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /BAD_OUTPUT_FILE.*web-1\.ova already exists: give --force to overwrite it/);
  assert.equal(api.requests.length, n, 'nothing asked');
  assert.equal(readFileSync(out, 'utf8'), 'mine');
  const forced = await runCli(['vm', 'export', 'web-1', out, '--force', ...creds(api)]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(out, 'utf8'), 'ova bytes');
  assert.equal((await runCli(['vm', 'export', 'web-1', ...creds(api)])).code, 2, 'no file: a usage error');
});

test('the three commands document themselves', async () => {
  for (const [cmd, words] of [['save-as', /--image <name>[\s\S]*--template <name>/], ['clone', /--wait/], ['export', /OVA/]] as const) {
    const h = await runCli(['vm', cmd, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, words);
    assert.match(h.stdout, /running[\s\S]*powered\s+off[\s\S]*suspended/);
  }
});
