import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { pollUntil } from '../src/util/deadline.js';
import { remoteRejects } from './support/remote-rejects.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { runCommand } from '../src/util/run-command.js';
import type { TemplateView } from '../src/contract/template-schemas.js';

// Issue 11 items 8 and 9 over the API, without agents: what an admin may
// register by path (only the import directory), uploads (checked, and
// nothing left of a bad one), host agent URLs for admins only, volumes held
// against the hosts' disk, and the modes of what the controller writes.

let root: string;
let importDir: string;
let withImport: ControllerDaemon;
let uploadsOnly: ControllerDaemon;
let admin: NuboClient;
let adminNoImport: NuboClient;
let bob: NuboClient;
let bobToken: string;

const silent = pino({ level: 'silent' });
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-security-'));
  importDir = join(root, 'import');
  await mkdir(importDir);
  withImport = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, imageImportDir: importDir, logger: silent });
  uploadsOnly = await ControllerDaemon.start({ dataDir: join(root, 'controller2'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: silent });
  admin = new NuboClient(withImport.url, (await withImport.bootstrapAdmin())!);
  adminNoImport = new NuboClient(uploadsOnly.url, (await uploadsOnly.bootstrapAdmin())!);
  bobToken = (await withImport.store.users.create({ name: 'bob' })).token;
  bob = new NuboClient(withImport.url, bobToken);
});

after(async () => {
  await withImport.stop();
  await uploadsOnly.stop();
  await rm(root, { recursive: true, force: true });
});

async function storeState(c: ControllerDaemon, dir: string) {
  // The image store's files (temporary ones included) and the object store's blobs, where every image's bytes are.
  const files = async (sub: string): Promise<string[]> => (await readdir(join(dir, sub)).catch(() => [])).map((f) => `${sub}/${f}`);
  return { images: (await c.store.images.list()).map((i) => i.name).sort(), files: [...(await files('images')), ...(await files('s3'))].sort() };
}

test('registering a controller path: /etc/shadow, the controller\'s database, symlinks and .. out of the import directory are refused naming path; nothing is registered', async () => {
  await writeFile(join(importDir, 'ok.raw'), Buffer.alloc(1 << 20));
  await symlink('/etc/shadow', join(importDir, 'shadow.raw'));
  await symlink(join(root, 'controller', 'nubo.db'), join(importDir, 'db.raw'));
  await symlink(root, join(importDir, 'up'));
  const before = await storeState(withImport, join(root, 'controller'));
  for (const path of [
    '/etc/shadow',
    join(root, 'controller', 'nubo.db'),
    join(importDir, 'shadow.raw'),
    join(importDir, 'db.raw'),
    join(importDir, '..', 'controller', 'nubo.db'),
    join(importDir, 'up', 'controller', 'nubo.db'),
  ]) {
    await remoteRejects(admin.registerImage({ name: 'leak', path, format: 'raw' }), 400, 'VALIDATION_FAILED', 'path', /import directory/);
  }
  assert.deepEqual(await storeState(withImport, join(root, 'controller')), before, 'nothing registered, nothing copied');
  // Without an import directory no path is taken at all, not even a harmless one.
  await remoteRejects(adminNoImport.registerImage({ name: 'ok', path: join(importDir, 'ok.raw') }), 400, 'VALIDATION_FAILED', 'path', /upload/);
  assert.deepEqual((await uploadsOnly.store.images.list()).length, 0);
  // Inside the directory it works as before; plain users may not name paths at all.
  assert.equal((await admin.registerImage({ name: 'ok', path: join(importDir, 'ok.raw') })).format, 'raw');
  await remoteRejects(bob.registerImage({ name: 'x', path: join(importDir, 'ok.raw') }), 403, 'FORBIDDEN');
});

/** A raw POST of `declared` bytes of which only `sent` are written before the socket is cut. */
async function truncatedUpload(url: string, token: string, declared: number, sent: number, path = '/api/v1/images/upload?name=cut&format=raw', whileOpen = async (): Promise<void> => {}): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = request(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(declared) },
    });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    req.write(Buffer.alloc(sent, 7), () => setTimeout(() => {
      const cut = (): void => {
        req.destroy();
        resolve();
      };
      whileOpen().then(cut, cut);
    }, 300));
  });
}

test('an upload is checked (size, digest, qemu-img) and a bad or truncated one leaves nothing behind', async () => {
  const file = join(root, 'disk.raw');
  const bytes = Buffer.alloc(2 << 20, 1);
  await writeFile(file, bytes);
  const img = await adminNoImport.uploadImage({ name: 'disk', file, format: 'raw' });
  assert.equal(img.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(img.sizeBytes, bytes.length);
  const before = await storeState(uploadsOnly, join(root, 'controller2'));
  assert.equal(before.files.length, 1);
  assert.match(before.files[0]!, /^s3\//, 'the image is a blob of the object store');
  assert.equal(await mode(join(root, 'controller2', before.files[0]!)), 0o600, 'an image file is the owner\'s only');

  await remoteRejects(adminNoImport.uploadImage({ name: 'bad-digest', file, format: 'raw', sha256: 'f'.repeat(64) }), 400, 'VALIDATION_FAILED', 'sha256');
  await writeFile(join(root, 'garbage.qcow2'), Buffer.alloc(4096, 9));
  await remoteRejects(adminNoImport.uploadImage({ name: 'garbage', file: join(root, 'garbage.qcow2'), format: 'qcow2' }), 400, 'VALIDATION_FAILED', 'format');
  await remoteRejects(adminNoImport.uploadImage({ name: 'disk', file, format: 'raw' }), 409, 'CONFLICT', undefined, /name "disk"/);
  await remoteRejects(new NuboClient(uploadsOnly.url, (await uploadsOnly.store.users.create({ name: 'eve' })).token).uploadImage({ name: 'eve', file }), 403, 'FORBIDDEN');
  await truncatedUpload(uploadsOnly.url, (await uploadsOnly.store.users.create({ name: 'root2', role: 'admin' })).token, 8 << 20, 1 << 20);
  // The server notices the cut connection and removes its temporary file.
  await pollUntil('the truncated upload cleaned up', async () => ((await storeState(uploadsOnly, join(root, 'controller2'))).files.length === 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  assert.deepEqual(await storeState(uploadsOnly, join(root, 'controller2')), before, 'no image, no file, no temporary directory');
});

test('plain users do not see the hosts\' agent URLs; admins do', async () => {
  await admin.registerHost({ name: 'h1', agentUrl: 'http://198.18.1.1:7481', agentToken: 'h1-agent-token-0123456789' });
  assert.equal((await admin.listHosts())[0]?.agentUrl, 'http://198.18.1.1:7481');
  assert.equal((await admin.getHost('h1')).agentUrl, 'http://198.18.1.1:7481');
  for (const path of ['/api/v1/hosts', '/api/v1/hosts/h1']) {
    const text = await (await fetch(`${withImport.url}${path}`, { headers: { authorization: `Bearer ${bobToken}` } })).text();
    assert.ok(!text.includes('198.18.1.1'), `${path}: ${text}`);
  }
  assert.equal((await bob.listHosts())[0]?.agentUrl, null);
  assert.equal((await bob.getHost('h1')).agentUrl, null);
});

test('a volume larger than any host\'s free disk is refused at creation (409 DISK_CAPACITY naming sizeMiB); nothing is created', async () => {
  const h = await withImport.store.hosts.register({ name: 'h2', agentUrl: 'http://198.18.1.2:7481', agentToken: 'h2-agent-token-0123456789', totalCpus: 2, totalMemoryMib: 4096, totalDiskMib: 78_000 });
  await withImport.store.hosts.setState(h.id, 'enabled');
  await assert.rejects(bob.createVolume({ name: 'huge', sizeMiB: 1024 * 1024 }), (err: unknown) => {
    assert.ok(err instanceof RemoteError);
    assert.deepEqual([err.status, err.code, err.details['field']], [409, 'DISK_CAPACITY', 'sizeMiB']);
    assert.match(err.message, /sizeMiB/);
    return true;
  });
  assert.deepEqual(await bob.listVolumes(), []);
  assert.equal((await bob.createVolume({ name: 'fits', sizeMiB: 70_000 })).sizeMiB, 70_000);
  // Two of them do not fit: a volume counts against the host it would land on only once attached, but no host could hold 78,001 MiB.
  await remoteRejects(bob.createVolume({ name: 'too-big', sizeMiB: 78_001 }), 409, 'DISK_CAPACITY');
});

test('the controller keeps its state to its owner: data directory 0700, database 0600, image store and object store (the images\' bytes) 0700', async () => {
  const dir = join(root, 'controller');
  assert.equal(await mode(dir), 0o700);
  for (const f of (await readdir(dir)).filter((n) => n.startsWith('nubo.db'))) assert.equal(await mode(join(dir, f)), 0o600, f);
  for (const sub of ['images', 's3']) {
    assert.equal(await mode(join(dir, sub)), 0o700, sub);
    for (const f of await readdir(join(dir, sub))) assert.equal((await mode(join(dir, sub, f))) & 0o077, 0, `${sub}/${f}`);
  }
  assert.ok((await readdir(join(dir, 's3'))).length > 0, 'the uploaded images are blobs of the object store');
});

/** The templates and images of a controller and the files of its image store (temporary ones included). */
async function catalogState(c: ControllerDaemon, dir: string) {
  return { ...(await storeState(c, dir)), templates: (await c.store.templates.list()).map((t) => t.name).sort() };
}

/** What makes two templates the same but for ids, names and times. */
const essence = (t: TemplateView) => ({ vcpus: t.vcpus, memoryMiB: t.memoryMiB, diskMode: t.diskMode, datastore: t.datastore, cpuModel: t.cpuModel, nics: t.nics, cmdline: t.cmdline, userData: t.userData, requirements: t.requirements });

/** A real OVA (exported by the controller from a template on a 1 MiB raw disk), and its members unpacked beside it. */
async function makeOva(): Promise<{ ova: string; unpacked: string; original: TemplateView }> {
  const disk = join(root, 'ova-src.raw');
  await writeFile(disk, Buffer.alloc(1 << 20, 3));
  await admin.uploadImage({ name: 'ova-src', file: disk, format: 'raw' });
  const original = await admin.createTemplate({ name: 'ova-src', vcpus: 1, memoryMiB: 192, image: 'ova-src', cmdline: 'console=ttyS0 quiet' });
  const ova = join(root, 'ova-src.ova');
  await admin.exportTemplate('ova-src', ova);
  const unpacked = join(root, 'ova-src');
  await mkdir(unpacked);
  await runCommand('tar', ['-xf', ova, '-C', unpacked]);
  return { ova, unpacked, original };
}

test('importing a template by controller path: /etc/passwd, symlinks and .. out of the import directory, and an .ovf whose files lead out, are refused naming path; nothing is imported', async () => {
  const { ova, unpacked } = await makeOva();
  await copyFile(ova, join(root, 'outside.ova'));
  await symlink('/etc/passwd', join(importDir, 'passwd.ova'));
  await symlink(join(root, 'outside.ova'), join(importDir, 'outside.ova'));
  await symlink(root, join(importDir, 'up-t'));
  // An .ovf inside the directory whose disk is a symlink to a file outside it: the reference would publish that file.
  const leak = join(importDir, 'leak');
  await mkdir(leak);
  await copyFile(join(unpacked, 'ova-src.ovf'), join(leak, 'ova-src.ovf'));
  await symlink(join(unpacked, 'ova-src-disk1.vmdk'), join(leak, 'ova-src-disk1.vmdk'));
  const before = await catalogState(withImport, join(root, 'controller'));
  for (const path of ['/etc/passwd', join(importDir, 'passwd.ova'), join(importDir, 'outside.ova'), join(importDir, '..', 'outside.ova'), join(importDir, 'up-t', 'outside.ova')]) {
    await remoteRejects(admin.importTemplate({ path, name: 'leak' }), 400, 'VALIDATION_FAILED', 'path', /import directory/);
  }
  await remoteRejects(admin.importTemplate({ path: join(leak, 'ova-src.ovf'), name: 'leak' }), 400, 'VALIDATION_FAILED', 'path', /ova-src-disk1\.vmdk.*import directory/);
  assert.deepEqual(await catalogState(withImport, join(root, 'controller')), before, 'no template, no image, no file');
  // Without an import directory no path is taken at all.
  await remoteRejects(adminNoImport.importTemplate({ path: ova, name: 'leak' }), 400, 'VALIDATION_FAILED', 'path', /upload/);
  // Inside the directory it works as before: the .ova, and an .ovf with its (real) files beside it.
  await copyFile(ova, join(importDir, 'ok.ova'));
  assert.equal((await admin.importTemplate({ path: join(importDir, 'ok.ova'), name: 'by-path' })).image, 'by-path-disk');
  await rm(join(leak, 'ova-src-disk1.vmdk'));
  await copyFile(join(unpacked, 'ova-src-disk1.vmdk'), join(leak, 'ova-src-disk1.vmdk'));
  assert.equal((await admin.importTemplate({ path: join(leak, 'ova-src.ovf'), name: 'by-ovf' })).image, 'by-ovf-disk');
});

test('uploading an OVA gives the same template as importing it did; the CLI uploads an .ova, and packs an .ovf with its files first', async () => {
  const { ova, unpacked, original } = await adminNoImportOva();
  const t = await adminNoImport.uploadTemplate({ file: ova, name: 'up' });
  assert.equal(t.image, 'up-disk');
  assert.deepEqual(essence(t), essence(original));
  const disk = (await uploadsOnly.store.images.list()).find((i) => i.name === 'up-disk')!;
  const src = (await uploadsOnly.store.images.list()).find((i) => i.name === 'ova-src')!;
  await runCommand('qemu-img', ['compare', '-q', src.path, disk.path]);
  const token = (await uploadsOnly.store.users.create({ name: 'cli-admin', role: 'admin' })).token;
  const cli = (...args: string[]) => runCli([...args, '--url', uploadsOnly.url, '--token', token, '--json']);
  const a = await cli('template', 'import', ova, '--name', 'cli-ova');
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(essence(JSON.parse(a.stdout) as TemplateView), essence(original));
  const b = await cli('template', 'import', join(unpacked, 'ova-src.ovf'), '--name', 'cli-ovf');
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(essence(JSON.parse(b.stdout) as TemplateView), essence(original));
  // The server-path form stays available (and refused here, as this controller has no import directory).
  const c = await cli('template', 'import', ova, '--import', '--name', 'cli-path');
  assert.equal(c.code, 2, c.stderr);
  assert.match(c.stderr, /path: .*upload/);
  // An upload is an admin's, like an image's; a bad package names the body.
  await remoteRejects(new NuboClient(uploadsOnly.url, (await uploadsOnly.store.users.create({ name: 'mallory' })).token).uploadTemplate({ file: ova, name: 'm' }), 403, 'FORBIDDEN');
  await writeFile(join(root, 'garbage.ova'), Buffer.alloc(64 << 10, 5));
  const before = await catalogState(uploadsOnly, join(root, 'controller2'));
  await remoteRejects(adminNoImport.uploadTemplate({ file: join(root, 'garbage.ova'), name: 'garbage' }), 400, 'VALIDATION_FAILED', 'body', /not a valid OVA/);
  await remoteRejects(adminNoImport.uploadTemplate({ file: ova, name: 'up' }), 409, 'CONFLICT', undefined, /"up" already exists/);
  assert.deepEqual(await catalogState(uploadsOnly, join(root, 'controller2')), before);
});

/** makeOva's package, for the controller without an import directory (its source image uploaded there too). */
async function adminNoImportOva(): Promise<{ ova: string; unpacked: string; original: TemplateView }> {
  const ova = join(root, 'ova-src.ova');
  const unpacked = join(root, 'ova-src');
  await adminNoImport.uploadImage({ name: 'ova-src', file: join(root, 'ova-src.raw'), format: 'raw' });
  const original = await admin.getTemplate('ova-src');
  assert.ok((await readFile(join(unpacked, 'ova-src.ovf'), 'utf8')).includes('ova-src'));
  return { ova, unpacked, original };
}

test('a template upload cut short leaves nothing behind: no temporary file, no template, no image', async () => {
  const before = await catalogState(uploadsOnly, join(root, 'controller2'));
  const token = (await uploadsOnly.store.users.create({ name: 'root3', role: 'admin' })).token;
  let staged: string[] = [];
  await truncatedUpload(uploadsOnly.url, token, 8 << 20, 1 << 20, '/api/v1/templates/import/upload?name=cut', async () => {
    // While the body comes, it is being written to a temporary file in the image store.
    const tmp = (await readdir(join(root, 'controller2', 'images'))).filter((f) => f.startsWith('.tmp-'));
    staged = (await Promise.all(tmp.map(async (d) => (await readdir(join(root, 'controller2', 'images', d))).map((f) => `${d}/${f}`)))).flat();
  });
  assert.equal(staged.length, 1, `one file staged during the upload: ${staged.join(', ')}`);
  assert.match(staged[0]!, /\/upload\.ova$/);
  const same = async () => JSON.stringify(await catalogState(uploadsOnly, join(root, 'controller2'))) === JSON.stringify(before);
  await pollUntil('the truncated template upload cleaned up', async () => ((await same()) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
  // And stays so: the import did not go on with half a file.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await catalogState(uploadsOnly, join(root, 'controller2')), before, 'no template, no image, no temporary directory');
});
