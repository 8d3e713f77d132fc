import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pino } from 'pino';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { RemoteError } from '../src/client/remote-error.js';
import { runCli } from '../src/cli/cli-test-kit.js';
import { ImageStore } from '../src/controller/image-store.js';
import { IMAGE_BUCKET, ImageObjects } from '../src/controller/image-objects.js';
import { S3BlobStore } from '../src/s3/s3-blob-store.js';
import { importOvfTemplate } from '../src/controller/import-ovf-template.js';
import type { Catalog } from '../src/controller/catalog.js';
import type { TemplateView } from '../src/contract/template-schemas.js';
import { pollUntil } from '../src/util/deadline.js';
import { runCommand } from '../src/util/run-command.js';
import { NotFoundError } from '../src/store/store-errors.js';

// Disk image import (qcow2/raw/vmdk/vdi) and OVF/OVA import and export against a real controller:
// real qemu-img conversions on small disks with known content, compared with `qemu-img compare`.
// No agent runs: nothing here boots a VM.

let root: string;
let work: string;
let storeDir: string;
let controller: ControllerDaemon;
let api: NuboClient;
let adminToken: string;
let bob: NuboClient;
let source: string;

const qemuImg = (...args: string[]) => runCommand('qemu-img', args);
const cli = (...args: string[]) => runCli([...args, '--url', controller.url, '--token', adminToken]);
const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
const imagePath = async (id: string): Promise<string> => (await controller.store.images.get(id)).path;
const blobDir = (): string => join(root, 'controller', 's3');
const md5 = async (path: string): Promise<string> => createHash('md5').update(await readFile(path)).digest('hex');

/** One store: the image's bytes are an object of the system bucket (no S3 listener here), of the image's size and with its MD5 as ETag. */
async function assertIsObject(id: string): Promise<void> {
  const img = await controller.store.images.get(id);
  assert.equal(dirname(img.path), blobDir(), `${img.name}'s bytes are a blob of the object store`);
  const obj = await controller.store.s3.getObject(IMAGE_BUCKET, `images/${basename(img.path)}`);
  assert.ok(obj, `${img.name} is an object of ${IMAGE_BUCKET}`);
  assert.equal(obj.size, img.sizeBytes);
  assert.equal(obj.etag, await md5(img.path));
}

/** `qemu-img compare`: exit 0 when the guest-visible contents are identical. */
async function sameContent(a: string, b: string): Promise<void> {
  await qemuImg('compare', '-q', a, b);
}

/** What an import or registration could leave behind: rows and the image store's files (temporary ones included). */
async function snapshot(): Promise<unknown> {
  return {
    images: await controller.store.images.list(),
    templates: await controller.store.templates.list(),
    files: (await readdir(storeDir)).sort(),
    objects: await controller.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 1000 }),
    blobs: (await readdir(blobDir())).sort(),
  };
}

interface Expect { status: number; code: string; field?: string; match: RegExp }

/** The call fails as expected and changes nothing. */
async function refused(what: string, call: () => Promise<unknown>, e: Expect): Promise<void> {
  const before = await snapshot();
  await assert.rejects(call(), (err: unknown) => {
    assert.ok(err instanceof RemoteError, `${what}: ${String(err)}`);
    assert.equal(err.status, e.status, `${what}: ${err.message}`);
    assert.equal(err.code, e.code, `${what}: ${err.message}`);
    if (e.field !== undefined) {
      const fields = ((err.details['issues'] ?? []) as { field: string }[]).map((i) => i.field);
      assert.ok(fields.includes(e.field) || err.details['field'] === e.field, `${what}: names ${e.field}: ${JSON.stringify(err.details)}`);
    }
    assert.match(err.message, e.match, what);
    if (process.env['NUBO_TEST_SHOW'] !== undefined) process.stderr.write(`${what} → ${err.status} ${err.code} ${err.message}\n`);
    return true;
  });
  assert.deepEqual(await snapshot(), before, `${what}: nothing changed`);
  assert.deepEqual((await readdir(storeDir)).filter((f) => f.startsWith('.')), [], `${what}: no temporary files`);
}

/** The fields that make two templates equivalent (ids, names and times aside). */
function essence(t: TemplateView): Record<string, unknown> {
  return { vcpus: t.vcpus, memoryMiB: t.memoryMiB, diskMode: t.diskMode, datastore: t.datastore, cpuModel: t.cpuModel, nics: t.nics, cmdline: t.cmdline, userData: t.userData, requirements: t.requirements, kernel: t.kernel !== undefined, initrd: t.initrd !== undefined };
}

/** Packs `members` of `dir` with GNU tar, in that order. */
async function tarOf(file: string, dir: string, members: readonly string[]): Promise<string> {
  await runCommand('tar', ['-cf', file, '-C', dir, ...members]);
  return file;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-ova-'));
  work = join(root, 'work');
  await mkdir(work);
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, imageImportDir: root, logger: pino({ level: 'silent' }) });
  storeDir = join(root, 'controller', 'images');
  await mkdir(storeDir, { recursive: true });
  adminToken = (await controller.bootstrapAdmin())!;
  api = new NuboClient(controller.url, adminToken);
  bob = new NuboClient(controller.url, (await controller.store.users.create({ name: 'bob' })).token);
  // A 4 MiB disk with known content in three places, and sparse elsewhere.
  source = join(work, 'source.qcow2');
  await qemuImg('create', '-q', '-f', 'qcow2', source, '4M');
  for (const [pattern, offset] of [['0x11', '0'], ['0x5a', '1M'], ['0xe7', '3584k']]) await runCommand('qemu-io', ['-c', `write -P ${pattern} ${offset} 512k`, source]);
  for (const fmt of ['vmdk', 'vdi', 'raw', 'vpc']) await qemuImg('convert', '-q', '-f', 'qcow2', '-O', fmt, source, join(work, `disk.${fmt}`));
  await qemuImg('convert', '-q', '-f', 'qcow2', '-O', 'vmdk', '-o', 'subformat=streamOptimized', source, join(work, 'stream.vmdk'));
  await copyFile(join(work, 'disk.raw'), join(work, 'raw-named.vmdk'));
  await qemuImg('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', source, join(work, 'backed.qcow2'));
  await writeFile(join(work, 'vmlinuz'), 'not really a kernel, but bytes to carry\n'.repeat(100));
  await writeFile(join(work, 'initrd'), 'not really an initrd\n'.repeat(50));
  await api.createNetwork({ name: 'blue', cidr: '198.18.64.0/24', gateway: '198.18.64.1' });
});

after(async () => {
  await controller?.stop();
  await rm(root, { recursive: true, force: true });
});

test('vmdk (sparse and streamOptimized) and vdi disks are converted to qcow2 on registration, with the same content', async () => {
  const cases = [
    ['from-vmdk', join(work, 'disk.vmdk'), 'vmdk'],
    ['from-stream', join(work, 'stream.vmdk'), undefined],
    ['from-vdi', join(work, 'disk.vdi'), 'vdi'],
    ['from-raw', join(work, 'disk.raw'), undefined],
  ] as const;
  for (const [name, path, format] of cases) {
    const img = await api.registerImage({ name, path, ...(format ? { format } : {}) });
    assert.equal(img.format, name === 'from-raw' ? 'raw' : 'qcow2', name);
    assert.equal(img.virtualSizeBytes, 4 << 20, name);
    const stored = await imagePath(img.id);
    assert.equal(img.sha256, await sha256(stored), name);
    await sameContent(source, stored);
    await assertIsObject(img.id);
  }
  // Through the CLI: `image register --format vdi`.
  const r = await cli('image', 'register', 'cli-vdi', join(work, 'disk.vdi'), '--format', 'vdi', '--json');
  assert.equal(r.code, 0, r.stderr);
  const img = JSON.parse(r.stdout) as { id: string; format: string };
  assert.equal(img.format, 'qcow2');
  await sameContent(source, await imagePath(img.id));
  assert.deepEqual((await readdir(storeDir)).filter((f) => f.startsWith('.')), [], 'no temporary files');
});

test('bad disk images are refused naming the field and the cause, and change nothing', async () => {
  const reg = (body: Parameters<NuboClient['registerImage']>[0]) => () => api.registerImage(body);
  await refused('a raw file named .vmdk', reg({ name: 'x1', path: join(work, 'raw-named.vmdk') }), { status: 400, code: 'VALIDATION_FAILED', field: 'path', match: /file .*raw-named\.vmdk is not a vmdk image: qemu-img detects raw/ });
  await refused('--format vmdk on a raw file', reg({ name: 'x1', path: join(work, 'disk.raw'), format: 'vmdk' }), { status: 400, code: 'VALIDATION_FAILED', field: 'format', match: /is not a vmdk image: qemu-img detects raw/ });
  await refused('--format vdi on a vmdk', reg({ name: 'x1', path: join(work, 'disk.vmdk'), format: 'vdi' }), { status: 400, code: 'VALIDATION_FAILED', field: 'format', match: /is not a vdi image: qemu-img detects vmdk/ });
  await refused('an unknown format asked for', reg({ name: 'x1', path: join(work, 'disk.raw'), format: 'vhd' as 'raw' }), { status: 400, code: 'VALIDATION_FAILED', field: 'format', match: /format/ });
  await refused('a format nubo does not take', reg({ name: 'x1', path: join(work, 'disk.vpc') }), { status: 400, code: 'VALIDATION_FAILED', field: 'path', match: /is a vpc image; nubo takes qcow2, raw, vmdk, vdi/ });
  await refused('a backing file outside the datastore', reg({ name: 'x1', path: join(work, 'backed.qcow2') }), { status: 400, code: 'VALIDATION_FAILED', field: 'path', match: /has a backing file \(.*source\.qcow2, which points outside the datastore\)/ });
  await refused('a taken name', reg({ name: 'from-vmdk', path: join(work, 'disk.vdi') }), { status: 409, code: 'CONFLICT', field: 'name', match: /from-vmdk/ });
  await refused('a plain user', () => bob.registerImage({ name: 'x1', path: join(work, 'disk.vdi') }), { status: 403, code: 'FORBIDDEN', match: /admin/ });
});

test('OVA round trip: template → OVA (descriptor first, SHA256 manifest, streamOptimized vmdk) → import gives an equivalent template with an identical disk', async () => {
  const disk = await api.registerImage({ name: 'rt-src', path: source });
  await api.registerImage({ name: 'rt-kernel-src', path: join(work, 'vmlinuz'), format: 'kernel' });
  await api.registerImage({ name: 'rt-initrd-src', path: join(work, 'initrd'), format: 'initrd' });
  const original = await api.createTemplate({
    name: 'rt', image: 'rt-src', vcpus: 2, memoryMiB: 192, kernel: 'rt-kernel-src', initrd: 'rt-initrd-src', cmdline: 'console=ttyS0 quiet nubo.x=<1&2>',
    cpuModel: 'qemu64', diskMode: 'copy', datastore: 'shared', nics: [{ network: 'blue' }, {}], userData: '#!/bin/sh\r\necho "hello" > /data/hello\n', requirements: 'free_memory_mb > 64',
  });

  // Export through the CLI, as a plain user may: templates are a shared catalog.
  const ova = join(work, 'rt.ova');
  const exp = await runCli(['template', 'export', 'rt', '-o', ova, '--url', controller.url, '--token', bob.token]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.match(exp.stdout, /exported template rt to .*rt\.ova/);
  await pollUntil('export temporary files removed', async () => ((await readdir(storeDir)).some((f) => f.startsWith('.')) ? undefined : true), { timeoutMs: 5_000 });
  const listing = (await runCommand('tar', ['-tf', ova])).stdout.trim().split('\n');
  assert.deepEqual(listing, ['rt.ovf', 'rt.mf', 'rt-disk1.vmdk', 'rt-kernel', 'rt-initrd']);
  const unpacked = join(work, 'rt-unpacked');
  await mkdir(unpacked);
  await runCommand('tar', ['-xf', ova, '-C', unpacked]);
  const mf = await readFile(join(unpacked, 'rt.mf'), 'utf8');
  for (const f of listing.filter((m) => m !== 'rt.mf')) assert.ok(mf.includes(`SHA256(${f})= ${await sha256(join(unpacked, f))}`), `manifest covers ${f}`);
  const vmdkInfo = JSON.parse((await qemuImg('info', '--output=json', join(unpacked, 'rt-disk1.vmdk'))).stdout) as { format: string; 'format-specific': { data: { 'create-type': string } } };
  assert.equal(vmdkInfo.format, 'vmdk');
  assert.equal(vmdkInfo['format-specific'].data['create-type'], 'streamOptimized');
  await sameContent(source, join(unpacked, 'rt-disk1.vmdk'));
  const ovf = await readFile(join(unpacked, 'rt.ovf'), 'utf8');
  assert.match(ovf, /<rasd:ResourceType>3<\/rasd:ResourceType>\s*<rasd:VirtualQuantity>2<\/rasd:VirtualQuantity>/);
  assert.match(ovf, /<rasd:AllocationUnits>byte \* 2\^20<\/rasd:AllocationUnits>[\s\S]*<rasd:VirtualQuantity>192<\/rasd:VirtualQuantity>/);
  assert.match(ovf, /ovf:capacity="4194304"/);

  // Import through the CLI under a new name: it uploads the file.
  const imp = await cli('template', 'import', ova, '--name', 'rt2', '--json');
  assert.equal(imp.code, 0, imp.stderr);
  const imported = JSON.parse(imp.stdout) as TemplateView;
  assert.equal(imported.name, 'rt2');
  assert.equal(imported.image, 'rt2-disk');
  assert.deepEqual(essence(imported), essence(original));
  assert.deepEqual(imported.nics, [{ network: 'blue' }, {}]);
  const images = await api.listImages();
  const byName = (n: string) => images.find((i) => i.name === n)!;
  assert.equal(byName('rt2-disk').format, 'qcow2');
  await sameContent(await imagePath(disk.id), await imagePath(byName('rt2-disk').id));
  assert.equal(byName('rt2-kernel').sha256, byName('rt-kernel-src').sha256);
  assert.equal(byName('rt2-initrd').sha256, byName('rt-initrd-src').sha256);
  // An OVA's disk, kernel and initrd are objects of the system bucket, like any image.
  for (const n of ['rt2-disk', 'rt2-kernel', 'rt2-initrd']) await assertIsObject(byName(n).id);
  assert.deepEqual((await readdir(storeDir)).filter((f) => f.startsWith('.')), [], 'no temporary files');

  // The unpacked package imports too, as an .ovf with its files beside it in the import directory; and a VM can be admitted from it.
  const fromOvf = await api.importTemplate({ path: join(unpacked, 'rt.ovf'), name: 'rt3' });
  assert.deepEqual(essence(fromOvf), essence(original));
  await sameContent(source, await imagePath((await api.listImages()).find((i) => i.name === 'rt3-disk')!.id));
  // And by path through the CLI (--import), and from a local .ovf, which the CLI packs into an OVA to upload.
  for (const [name, args] of [['rt4', [join(work, 'rt.ova'), '--import']], ['rt5', [join(unpacked, 'rt.ovf')]]] as const) {
    const r = await cli('template', 'import', ...args, '--name', name, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(essence(JSON.parse(r.stdout) as TemplateView), essence(original), name);
    await sameContent(source, await imagePath((await api.listImages()).find((i) => i.name === `${name}-disk`)!.id));
  }
  // The export of an import is the same package but for names.
  const again = join(work, 'rt2.ova');
  await api.exportTemplate('rt2', again);
  assert.deepEqual((await runCommand('tar', ['-tf', again])).stdout.trim().split('\n'), ['rt2.ovf', 'rt2.mf', 'rt2-disk1.vmdk', 'rt2-kernel', 'rt2-initrd']);
});

test('bad OVF packages are refused naming the field, the member and the cause, and change nothing', async () => {
  const unpacked = join(work, 'rt-unpacked');
  const base = await readFile(join(unpacked, 'rt.ovf'), 'utf8');
  const bad = join(work, 'bad');
  await mkdir(bad);
  /** An OVA of the exported files with the descriptor (and maybe a disk) replaced, with or without a manifest. */
  const variant = async (name: string, ovf: string, opts: { disk?: string; diskName?: string; manifest?: string } = {}): Promise<string> => {
    const dir = join(bad, name);
    await mkdir(dir);
    const diskName = opts.diskName ?? 'rt-disk1.vmdk';
    await writeFile(join(dir, 'rt.ovf'), ovf.replace('ovf:href="rt-disk1.vmdk"', `ovf:href="${diskName}"`));
    await copyFile(opts.disk ?? join(unpacked, 'rt-disk1.vmdk'), join(dir, diskName));
    for (const f of ['rt-kernel', 'rt-initrd']) await copyFile(join(unpacked, f), join(dir, f));
    const members = ['rt.ovf', ...(opts.manifest !== undefined ? ['rt.mf'] : []), diskName, 'rt-kernel', 'rt-initrd'];
    if (opts.manifest !== undefined) await writeFile(join(dir, 'rt.mf'), opts.manifest);
    return tarOf(join(bad, `${name}.ova`), dir, members);
  };
  const noSize = base.replace(/ ovf:size="\d+"/g, '');
  const garbage = join(bad, 'garbage.ova');
  await writeFile(garbage, Buffer.from(Array.from({ length: 64 << 10 }, (_, i) => (i * 7919) % 251)));
  const truncated = join(bad, 'truncated.ova');
  await copyFile(join(work, 'rt.ova'), truncated);
  await truncate(truncated, 40_000);
  const imp = (path: string, name = 'imp') => () => api.importTemplate({ path, name });
  await api.registerImage({ name: 'from-disk', path: join(work, 'disk.vdi') });
  const field = 'path';
  const cases: readonly (readonly [string, () => Promise<unknown>, Expect])[] = [
    ['garbage', imp(garbage), { status: 400, code: 'VALIDATION_FAILED', field, match: /garbage\.ova: not a valid OVA \(tar\) archive/ }],
    ['truncated', imp(truncated), { status: 400, code: 'VALIDATION_FAILED', field, match: /truncated\.ova: not a valid OVA \(tar\) archive/ }],
    ['disk first', imp(await tarOf(join(bad, 'order.ova'), unpacked, ['rt-disk1.vmdk', 'rt.ovf'])), { status: 400, code: 'VALIDATION_FAILED', field, match: /the first member must be the \.ovf descriptor/ }],
    ['a referenced file missing', imp(await variant('missing', base.replace('ovf:href="rt-disk1.vmdk"', 'ovf:href="rt-disk9.vmdk"'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /missing\.ova: rt\.ovf File file1: references rt-disk9\.vmdk, which is not in the OVA/ }],
    ['a missing file beside an .ovf', imp(join(bad, 'missing', 'rt.ovf')), { status: 400, code: 'VALIDATION_FAILED', field, match: /rt\.ovf File file1: references rt-disk9\.vmdk, which is not beside the descriptor/ }],
    ['an href that is a path', imp(await variant('escape', base.replace('ovf:href="rt-disk1.vmdk"', 'ovf:href="../../etc/passwd"'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /ovf:href "\.\.\/\.\.\/etc\/passwd" is not a file inside the package/ }],
    ['a wrong ovf:size', imp(await variant('size', base.replace(/(ovf:href="rt-disk1\.vmdk" ovf:id="file1" ovf:size=")\d+/, '$1999'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /ovf:size says 999 bytes/ }],
    ['a manifest digest mismatch', imp(await variant('digest', base, { manifest: (await readFile(join(unpacked, 'rt.mf'), 'utf8')).replace(/(SHA256\(rt-kernel\)= )\w+/, `$1${'0'.repeat(64)}`) })), { status: 400, code: 'VALIDATION_FAILED', field, match: /digest\.ova: rt\.mf: SHA256 digest of rt-kernel does not match/ }],
    ['a manifest without the disk', imp(await variant('undigested', base, { manifest: (await readFile(join(unpacked, 'rt.mf'), 'utf8')).replace(/SHA256\(rt-disk1\.vmdk\).*\n/, '') })), { status: 400, code: 'VALIDATION_FAILED', field, match: /rt\.mf: has no digest for rt-disk1\.vmdk/ }],
    ['not XML', imp(await variant('notxml', 'this is not an OVF')), { status: 400, code: 'VALIDATION_FAILED', field, match: /notxml\.ova: rt\.ovf: (not well-formed XML|not an OVF envelope)/ }],
    ['an OVF 2 envelope', imp(await variant('ovf2', base.replaceAll('http://schemas.dmtf.org/ovf/envelope/1', 'http://schemas.dmtf.org/ovf/envelope/2'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /OVF 2\.x envelope/ }],
    ['a .vmdk that is not one', imp(await variant('rawvmdk', noSize, { disk: join(work, 'disk.raw') })), { status: 400, code: 'VALIDATION_FAILED', field, match: /rawvmdk\.ova: file rt-disk1\.vmdk \(Disk vmdisk1\) is not a vmdk image: qemu-img detects raw/ }],
    ['a disk with a backing file outside the datastore', imp(await variant('backed', noSize.replace(/ ovf:format="[^"]*"/, ''), { disk: join(work, 'backed.qcow2'), diskName: 'rt-disk1.img' })), { status: 400, code: 'VALIDATION_FAILED', field, match: /has a backing file \(.*source\.qcow2, which points outside the datastore\)/ }],
    ['an unknown disk format', imp(await variant('vpc', noSize.replace(/ ovf:format="[^"]*"/, ''), { disk: join(work, 'disk.vpc'), diskName: 'rt-disk1.img' })), { status: 400, code: 'VALIDATION_FAILED', field, match: /is a vpc image; nubo takes qcow2, raw, vmdk, vdi/ }],
    ['too many vCPUs', imp(await variant('cpus', base.replace('<rasd:VirtualQuantity>2</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>128</rasd:VirtualQuantity>'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /CPU Item's rasd:VirtualQuantity \(vCPUs\)/ }],
    ['bad requirements', imp(await variant('reqs', base.replace('<nubo:Requirements>free_memory_mb &gt; 64</nubo:Requirements>', '<nubo:Requirements>free_memory_mb &gt; (64</nubo:Requirements>'))), { status: 400, code: 'VALIDATION_FAILED', field, match: /reqs\.ova: VirtualSystem rt: nubo:Requirements: / }],
    ['a taken template name', imp(join(work, 'rt.ova'), 'rt'), { status: 409, code: 'CONFLICT', field: 'name', match: /template with name "rt" already exists/ }],
    ['the OVF\'s own name, taken', () => api.importTemplate({ path: join(work, 'rt.ova') }), { status: 409, code: 'CONFLICT', field: 'name', match: /"rt" already exists/ }],
    // The template name is free, its disk image's name (<name>-disk) is not.
    ['a taken image name', imp(join(work, 'rt.ova'), 'from'), { status: 409, code: 'CONFLICT', field: 'name', match: /image with name "from-disk" already exists/ }],
    ['a file that is not there', imp(join(work, 'nope.ova')), { status: 400, code: 'VALIDATION_FAILED', field, match: /nope\.ova: cannot read it: ENOENT/ }],
    ['a relative path', imp('rt.ova'), { status: 400, code: 'VALIDATION_FAILED', field, match: /absolute path/ }],
    ['a bad name', imp(join(work, 'rt.ova'), '-bad name'), { status: 400, code: 'VALIDATION_FAILED', field: 'name', match: /name/ }],
    ['a plain user', () => bob.importTemplate({ path: join(work, 'rt.ova'), name: 'bobs' }), { status: 403, code: 'FORBIDDEN', match: /admin/ }],
    ['an unknown template to export', () => api.exportTemplate('no-such-template', join(work, 'never.ova')), { status: 404, code: 'NOT_FOUND', match: /no-such-template/ }],
  ];
  for (const [what, call, e] of cases) await refused(what, call, e);
  assert.equal(await readdir(work).then((f) => f.includes('never.ova')), false, 'a failed export leaves no file');
  // The CLI says the same, with exit code 2 for a bad request: by path (--import), and uploaded (the body is at fault).
  const r = await cli('template', 'import', garbage, '--import', '--name', 'imp');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /VALIDATION_FAILED[\s\S]*path: garbage\.ova: not a valid OVA/);
  const before = await snapshot();
  const u = await cli('template', 'import', truncated, '--name', 'imp');
  assert.equal(u.code, 2, u.stderr);
  assert.match(u.stderr, /VALIDATION_FAILED[\s\S]*body: upload\.ova: not a valid OVA/);
  // A local .ovf whose file is missing is refused before anything is sent.
  const m = await cli('template', 'import', join(bad, 'missing', 'rt.ovf'), '--name', 'imp');
  assert.equal(m.code, 2, m.stderr);
  assert.match(m.stderr, /references "rt-disk9\.vmdk", which is not a file beside it/);
  assert.deepEqual(await snapshot(), before, 'nothing changed');
});

test('a disk smaller than its declared ovf:capacity is grown to it; the content stays', async () => {
  const unpacked = join(work, 'rt-unpacked');
  const dir = join(work, 'grow');
  await mkdir(dir);
  const ovf = (await readFile(join(unpacked, 'rt.ovf'), 'utf8')).replace('ovf:capacity="4194304"', 'ovf:capacity="8"').replace('ovf:capacityAllocationUnits="byte"', 'ovf:capacityAllocationUnits="byte * 2^20"');
  await writeFile(join(dir, 'rt.ovf'), ovf);
  for (const f of ['rt-disk1.vmdk', 'rt-kernel', 'rt-initrd']) await copyFile(join(unpacked, f), join(dir, f));
  const t = await api.importTemplate({ path: join(dir, 'rt.ovf'), name: 'grown' });
  const img = (await api.listImages()).find((i) => i.name === t.image)!;
  assert.equal(img.virtualSizeBytes, 8 << 20);
  await sameContent(source, await imagePath(img.id));
});

test('an export the client drops half-way leaves no temporary files', async () => {
  const ctl = new AbortController();
  const res = await fetch(`${controller.url}/api/v1/templates/rt/export`, { headers: { authorization: `Bearer ${adminToken}` }, signal: ctl.signal });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-tar');
  assert.match(res.headers.get('content-disposition') ?? '', /filename="rt\.ova"/);
  const reader = res.body!.getReader();
  await reader.read();
  ctl.abort();
  await pollUntil('export temporary files removed', async () => ((await readdir(storeDir)).some((f) => f.startsWith('.')) ? undefined : true), { timeoutMs: 5_000 });
});

test('an import that fails after its images were made removes them again', async () => {
  const before = await snapshot();
  const objects = new ImageObjects({ store: controller.store, blobs: new S3BlobStore(blobDir()), logger: pino({ level: 'silent' }), s3Url: () => undefined, region: 'nubo-1' });
  const images = new ImageStore(storeDir, controller.store, objects, root);
  // The real catalog but for the last step, which fails as a store error would.
  const catalog = { findNetwork: (id: string) => Promise.reject(new NotFoundError('network', id)), createTemplate: () => Promise.reject(new Error('the store went away')) } as unknown as Catalog;
  const owner = (await controller.store.users.list()).find((u) => u.role === 'admin')!;
  await assert.rejects(importOvfTemplate({ store: controller.store, images, catalog }, { path: join(work, 'rt.ova'), from: 'import-dir', name: 'half', owner }), /the store went away/);
  assert.deepEqual(await snapshot(), before, 'no image row, no file, no temporary directory');
});

test('the OpenAPI document describes the import and export routes', async () => {
  const doc = (await (await fetch(`${controller.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { summary?: string; requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; additionalProperties?: boolean } }> } }>> };
  const imp = doc.paths['/api/v1/templates/import']?.['post'];
  assert.ok(imp?.summary?.includes('OVF'));
  const upload = doc.paths['/api/v1/templates/import/upload']?.['post'] as { summary?: string; parameters?: { name: string; in: string }[] } | undefined;
  assert.ok(upload?.summary?.includes('OVA'));
  assert.deepEqual(upload?.parameters?.filter((p) => p.in === 'query').map((p) => p.name).sort(), ['name', 'sha256']);
  const schema = imp?.requestBody?.content['application/json']?.schema;
  assert.deepEqual(Object.keys(schema?.properties ?? {}).sort(), ['name', 'path']);
  assert.equal(schema?.additionalProperties, false);
  const exp = doc.paths['/api/v1/templates/{id}/export']?.['get'] as { summary?: string; responses: Record<string, { content?: Record<string, unknown> }> } | undefined;
  assert.ok(exp?.summary?.includes('OVA'));
  assert.deepEqual(Object.keys(exp?.responses['200']?.content ?? {}), ['application/x-tar']);
  const formats = (doc.paths['/api/v1/images']?.['post']?.requestBody?.content['application/json']?.schema.properties['format'] as { enum: string[] }).enum;
  assert.deepEqual(formats, ['qcow2', 'raw', 'vmdk', 'vdi', 'kernel', 'initrd']);
});
