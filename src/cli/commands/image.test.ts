import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { creds, runCli, startFakeApi, type FakeApi } from '../cli-test-kit.js';
import { image } from '../cli-fixtures.js';

const tiny = image({ minMemoryMiB: 96 });
const kernel = image({ id: 'img-2', name: 'vmlinuz', format: 'kernel', sizeBytes: 7_000_000, virtualSizeBytes: 7_000_000 });
let api: FakeApi;
before(async () => {
  api = await startFakeApi({
    'GET /api/v1/images': () => ({ body: [tiny, kernel] }),
    'POST /api/v1/images': () => ({ status: 201, body: kernel }),
    'POST /api/v1/images/upload': () => ({ status: 201, body: kernel }),
    'POST /api/v1/images/from-s3': () => ({ status: 201, body: tiny }),
    'DELETE /api/v1/images/img-1': () => ({ status: 204 }),
    'DELETE /api/v1/images/img-9': () => ({ status: 409, body: { error: { code: 'CONFLICT', message: 'image img-9 is used by template small', details: {} } } }),
  });
});
after(() => api.close());

test('image list: table and --json', async () => {
  const r = await runCli(['image', 'list', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^img-1\s+tiny\s+qcow2\s+3 MiB\s+64 MiB\s+96 MiB\s+admin\s+2024-05-01 12:00:00$/m);
  assert.match(r.stdout, /^img-2\s+vmlinuz\s+kernel\s+6\.7 MiB/m);
  const j = await runCli(['image', 'list', '--json', ...creds(api)]);
  assert.deepEqual(JSON.parse(j.stdout), [tiny, kernel]);
});

test('image register uploads the local file with its SHA-256, name and format', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cli-upload-'));
  try {
    const file = join(dir, 'vmlinuz');
    const bytes = 'not really a kernel\n'.repeat(1000);
    await writeFile(file, bytes);
    const r = await runCli(['image', 'register', 'vmlinuz', file, '--format', 'kernel', ...creds(api)]);
    assert.equal(r.code, 0, r.stderr);
    const q = api.requests.at(-1)!;
    const url = new URL(q.path, 'http://x');
    assert.equal(`${q.method} ${url.pathname}`, 'POST /api/v1/images/upload');
    assert.deepEqual(Object.fromEntries(url.searchParams), { name: 'vmlinuz', format: 'kernel', sha256: createHash('sha256').update(bytes).digest('hex') });
    assert.equal(q.body, bytes);
    assert.match(r.stdout, /^img-2\s+vmlinuz\s+kernel/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('image register --min-memory sends the image\'s minimum memory (upload, --import, --from-s3); below the floor is a usage error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cli-upload-'));
  try {
    const file = join(dir, 'vmlinuz');
    await writeFile(file, 'k'.repeat(100));
    const r = await runCli(['image', 'register', 'vmlinuz', file, '--format', 'kernel', '--min-memory', '96', ...creds(api)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(new URL(api.requests.at(-1)!.path, 'http://x').searchParams.get('minMemoryMiB'), '96');
    const i = await runCli(['image', 'register', 'vmlinuz', '/srv/vmlinuz', '--import', '--format', 'kernel', '--min-memory', '128', ...creds(api)]);
    assert.equal(i.code, 0, i.stderr);
    assert.deepEqual(api.requests.at(-1)!.body, { name: 'vmlinuz', path: '/srv/vmlinuz', format: 'kernel', minMemoryMiB: 128 });
    const s = await runCli(['image', 'register', 'disk', '--from-s3', 'b/disk.qcow2', '--min-memory', '256', ...creds(api)]);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(api.requests.at(-1)!.body, { name: 'disk', bucket: 'b', key: 'disk.qcow2', minMemoryMiB: 256 });
    const n = api.requests.length;
    const low = await runCli(['image', 'register', 'vmlinuz', file, '--min-memory', '16', ...creds(api)]);
    assert.equal(low.code, 2);
    assert.match(low.stderr, /--min-memory/);
    assert.equal(api.requests.length, n, 'nothing sent');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('image register sends the format a disk file\'s extension claims, so the controller refuses a .vmdk that is raw; --format wins', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cli-upload-'));
  try {
    for (const [file, args, format] of [['web.vmdk', [], 'vmdk'], ['web.QCOW2', [], 'qcow2'], ['web.vmdk', ['--format', 'raw'], 'raw'], ['web.img', [], undefined]] as const) {
      await writeFile(join(dir, file), 'x'.repeat(4096));
      const r = await runCli(['image', 'register', 'web', join(dir, file), ...args, ...creds(api)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(new URL(api.requests.at(-1)!.path, 'http://x').searchParams.get('format'), format ?? null, `${file} ${args.join(' ')}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('image register: a format refused that came from the file\'s extension is said so, with the way out', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cli-upload-'));
  const refusing = await startFakeApi({
    'POST /api/v1/images/upload': () => ({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid image: format: file upload x is not a vmdk image: qemu-img detects raw', details: { issues: [{ field: 'format', message: 'file upload x is not a vmdk image: qemu-img detects raw' }] } } } }),
  });
  try {
    const file = join(dir, 'raw.vmdk');
    await writeFile(file, 'x'.repeat(4096));
    const r = await runCli(['image', 'register', 'x', file, ...creds(refusing)]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `error [VALIDATION_FAILED]: invalid image\n  format: ${file} is named as a vmdk disk but is not one (qemu-img detects raw: give --format raw, or rename it)\n`);
    const given = await runCli(['image', 'register', 'x', file, '--format', 'vmdk', ...creds(refusing)]);
    assert.match(given.stderr, /format: file upload x is not a vmdk image: qemu-img detects raw/, 'a --format the user gave is the server\'s word');
  } finally {
    await refusing.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('image register of a file that does not exist: the path and why, exit 1, nothing sent', async () => {
  const n = api.requests.length;
  const r = await runCli(['image', 'register', 'web', '/nonexistent/web.vmdk', ...creds(api)]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'error [LOCAL_FILE]: /nonexistent/web.vmdk: no such file or directory\n');
  assert.equal(api.requests.length, n);
});

test('image register --import sends the name, the absolute path and the format', async () => {
  const r = await runCli(['image', 'register', 'vmlinuz', 'boot/vmlinuz', '--import', '--format', 'kernel', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const q = api.requests.at(-1)!;
  assert.equal(`${q.method} ${q.path}`, 'POST /api/v1/images');
  assert.deepEqual(q.body, { name: 'vmlinuz', path: resolve('boot/vmlinuz'), format: 'kernel' });
  assert.match(r.stdout, /^img-2\s+vmlinuz\s+kernel/m);
});

test('image register rejects an unknown format before sending anything; vmdk and vdi are sent for conversion', async () => {
  const n = api.requests.length;
  const r = await runCli(['image', 'register', 'x', '/x', '--format', 'vhd', ...creds(api)]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /qcow2, raw, vmdk, vdi, kernel, initrd/);
  assert.equal(api.requests.length, n);
  for (const format of ['vmdk', 'vdi']) {
    const ok = await runCli(['image', 'register', 'x', '/x.disk', '--import', '--format', format, ...creds(api)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(api.requests.at(-1)!.body, { name: 'x', path: '/x.disk', format });
  }
});

test('image delete sends DELETE; a conflict exits 1', async () => {
  const r = await runCli(['image', 'delete', 'img-1', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(`${api.requests.at(-1)!.method} ${api.requests.at(-1)!.path}`, 'DELETE /api/v1/images/img-1');
  assert.equal(r.stdout, 'deleted image img-1\n');
  const used = await runCli(['image', 'delete', 'img-9', ...creds(api)]);
  assert.equal(used.code, 1);
  assert.match(used.stderr, /error \[CONFLICT\]: image img-9 is used by template small/);
});

test('image register --from-s3 sends the bucket, the key and the format; nothing is uploaded', async () => {
  const r = await runCli(['image', 'register', 'tiny', '--from-s3', 's3://disks/os/tiny.qcow2', '--format', 'qcow2', ...creds(api)]);
  assert.equal(r.code, 0, r.stderr);
  const q = api.requests.at(-1)!;
  assert.equal(`${q.method} ${q.path}`, 'POST /api/v1/images/from-s3');
  assert.deepEqual(q.body, { name: 'tiny', bucket: 'disks', key: 'os/tiny.qcow2', format: 'qcow2' });
  assert.match(r.stdout, /^img-1\s+tiny\s+qcow2/m);
  const j = await runCli(['image', 'register', 'tiny', '--from-s3', 'disks/tiny.raw', '--json', ...creds(api)]);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(api.requests.at(-1)!.body, { name: 'tiny', bucket: 'disks', key: 'tiny.raw' });
  assert.deepEqual(JSON.parse(j.stdout), tiny);
});

test('image register --from-s3: a location that is no object, a file or --import beside it, a kernel format, or neither file nor --from-s3 → usage error, nothing sent', async () => {
  const n = api.requests.length;
  const cases: [string[], RegExp][] = [
    [['--from-s3', 'disks'], /BUCKET\/KEY/],
    [['--from-s3', 'disks/'], /BUCKET\/KEY/],
    [['--from-s3', '/tiny.qcow2'], /BUCKET\/KEY/],
    [['some-file', '--from-s3', 'disks/tiny.qcow2'], /no <file>/],
    [['--import', '--from-s3', 'disks/tiny.qcow2'], /no <file>/],
    [['--from-s3', 'disks/vmlinuz', '--format', 'kernel'], /--format kernel/],
    [[], /<file>.*--from-s3/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(['image', 'register', 'tiny', ...args, ...creds(api)]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.equal(api.requests.length, n, 'nothing sent');
});
