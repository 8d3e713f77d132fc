import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { creds, emptyHome, runCli, startFakeApi, type FakeApi } from '../cli-test-kit.js';
import { template } from '../cli-fixtures.js';

const small = template();
const big = template({ id: 'tpl-2', name: 'big', vcpus: 4, memoryMiB: 2048, diskMode: 'copy', nics: [{ network: 'lab' }, { network: 'mgmt' }], requirements: 'free_memory_mb > 4096', kernel: 'vmlinuz' });
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/templates': () => ({ body: [small, big] }),
    'GET /api/v1/templates/tpl-2': () => ({ body: big }),
    'POST /api/v1/templates': () => ({ status: 201, body: big }),
    'POST /api/v1/templates/import': () => ({ status: 201, body: big }),
    'GET /api/v1/templates/big/export': () => ({ text: 'ova bytes' }),
    'GET /api/v1/templates/gone/export': () => ({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'template gone not found', details: { resource: 'template', id: 'gone' } } } }),
  });
});
after(() => api.close());

test('template list: table and --json', async () => {
  const r = await runCli(['template', 'list', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tpl-1\s+small\s+tiny\s+1\s+128 MiB\s+overlay\s+1\s/m);
  assert.match(r.stdout, /^tpl-2\s+big\s+tiny\s+4\s+2 GiB\s+copy\s+2\s/m);
  const j = await runCli(['template', 'list', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), [small, big]);
});

test('template show by id', async () => {
  const r = await runCli(['template', 'show', 'tpl-2', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^nics:\s+nic0:lab nic1:mgmt$/m);
  assert.match(r.stdout, /^requirements:\s+free_memory_mb > 4096$/m);
});

test('template create sends every flag in the API\'s shape', async () => {
  const ud = join(emptyHome(), 'user-data');
  writeFileSync(ud, '#cloud-config\nhostname: big\n');
  const r = await runCli([
    'template', 'create', ...creds(api), '--name', 'big', '--image', 'tiny', '--vcpus', '4', '--memory', '2048',
    '--kernel', 'vmlinuz', '--initrd', 'initrd', '--cmdline', 'console=ttyS0', '--disk-mode', 'copy',
    '--user-data-file', ud, '--requirements', 'free_memory_mb > 4096', '--nic', 'lab', '--nic', 'mgmt', '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const q = api.requests.at(-1)!;
  assert.equal(`${q.method} ${q.path}`, 'POST /api/v1/templates');
  assert.deepEqual(q.body, {
    name: 'big', image: 'tiny', vcpus: 4, memoryMiB: 2048, kernel: 'vmlinuz', initrd: 'initrd', cmdline: 'console=ttyS0', diskMode: 'copy',
    userData: '#cloud-config\nhostname: big\n', requirements: 'free_memory_mb > 4096', nics: [{ network: 'lab' }, { network: 'mgmt' }],
  });
  assert.deepEqual(JSON.parse(r.stdout), big);
});

test('template create with only the required flags leaves the rest to the server', async () => {
  const r = await runCli(['template', 'create', ...creds(api), '--name', 's', '--image', 'tiny']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(api.requests.at(-1)!.body, { name: 's', image: 'tiny', vcpus: 1, memoryMiB: 256 });
  const missing = await runCli(['template', 'create', ...creds(api), '--name', 's']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--image/);
});

test('template import --import sends the absolute path and the name; export writes the OVA to -o, whole or not at all', async () => {
  const r = await runCli(['template', 'import', 'pkg/web.ova', '--import', '--name', 'big', ...creds(api), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const q = api.requests.at(-1)!;
  assert.equal(`${q.method} ${q.path}`, 'POST /api/v1/templates/import');
  assert.deepEqual(q.body, { path: resolve('pkg/web.ova'), name: 'big' });
  assert.deepEqual(JSON.parse(r.stdout), big);
  const dir = emptyHome();
  const out = join(dir, 'big.ova');
  const e = await runCli(['template', 'export', 'big', '-o', out, ...creds(api)]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(readFileSync(out, 'utf8'), 'ova bytes');
  assert.match(e.stdout, /exported template big to .*big\.ova \(9 B\)/);
  const gone = await runCli(['template', 'export', 'gone', '-o', join(dir, 'gone.ova'), ...creds(api)]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /NOT_FOUND.*template gone not found/);
  assert.equal(existsSync(join(dir, 'gone.ova')), false);
  assert.deepEqual(readdirSync(dir), ['big.ova'], 'no partial file');
  const again = await runCli(['template', 'export', 'big', out, ...creds(api)]);
  assert.equal(again.code, 2, 'an existing file is refused');
  assert.match(again.stderr, /big\.ova already exists: give --force to overwrite it/);
  assert.equal((await runCli(['template', 'export', 'big', '-o', out, '--force', ...creds(api)])).code, 0, '--force overwrites it');
  const noOut = await runCli(['template', 'export', 'big', ...creds(api)]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--output/);
});
