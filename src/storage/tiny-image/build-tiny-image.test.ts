import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { imageCacheDir } from '../../util/nubo-home.js';
import { runCommand } from '../../util/run-command.js';
import { buildTinyImage, findTinyImage } from './build-tiny-image.js';
import { ImageBuildError } from './image-build-error.js';

// The real cache: every suite that boots nubo-tiny shares this one build.
const cacheDir = imageCacheDir();

test('buildTinyImage builds kernel, initramfs and data disk, then reuses them', async () => {
  const steps: string[] = [];
  const image = await buildTinyImage({ cacheDir, onProgress: (p) => steps.push(p.step) });
  assert.equal(image.dir, join(cacheDir, 'nubo-tiny'));
  assert.match(image.kernelVersion, /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  assert.match(image.cmdline, /\bconsole=ttyS0\b/);
  for (const f of [image.kernel, image.initrd, image.dataDisk]) {
    assert.ok((await stat(f)).size > 0, `${f} is empty`);
  }
  // steps is empty when an earlier run already built the image.
  if (steps.length > 0) assert.equal(steps.at(-1), 'done');

  const manifest = await readFile(join(image.dir, 'manifest.json'), 'utf8');
  const started = performance.now();
  const again = await buildTinyImage({ cacheDir });
  assert.ok(performance.now() - started < 1000, 'second build should be a cache hit');
  assert.deepEqual(again, image);
  assert.equal(await readFile(join(image.dir, 'manifest.json'), 'utf8'), manifest);
  assert.deepEqual(await findTinyImage(cacheDir), image);
});

test('the initramfs carries init, busybox, the modules in load order and the 512 KiB file', async () => {
  const image = await buildTinyImage({ cacheDir });
  const cpio = gunzipSync(await readFile(image.initrd));
  const { stdout } = await runCommand('cpio', ['-it', '--quiet'], { input: cpio });
  const names = new Set(stdout.split('\n'));
  for (const n of ['init', 'bin/busybox', 'bin/sh', 'sbin/insmod', 'usr/sbin/httpd', 'dev/console', 'www/file-512k']) {
    assert.ok(names.has(n), `${n} missing from the initramfs`);
  }
  const { stdout: order } = await runCommand('cpio', ['-i', '--quiet', '--to-stdout', `lib/modules/${image.kernelVersion}/nubo-load-order`], { input: cpio });
  const modules = order.trim().split('\n').map((p) => p.replace(/^.*\//, '').replace(/\.ko$/, ''));
  assert.deepEqual(modules, [
    'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
    'failover', 'net_failover', 'virtio_net', 'virtio_blk', 'cdrom', 'isofs', 'button', 'evdev',
  ]);
  for (const p of order.trim().split('\n')) assert.ok(names.has(`lib/modules/${image.kernelVersion}/${p}`), `${p} missing`);
});

test('the data disk is a 64 MiB qcow2 holding ext4 labelled nubo-data', async () => {
  const image = await buildTinyImage({ cacheDir });
  const info = JSON.parse((await runCommand('qemu-img', ['info', '--output=json', image.dataDisk])).stdout) as { format: string; 'virtual-size': number };
  assert.equal(info.format, 'qcow2');
  assert.equal(info['virtual-size'], 64 * 1024 * 1024);
  const dir = await mkdtemp(join(tmpdir(), 'nubo-data-'));
  try {
    const raw = join(dir, 'data.raw');
    await runCommand('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image.dataDisk, raw]);
    const { stdout } = await runCommand('dumpe2fs', ['-h', raw]);
    assert.match(stdout, /^Filesystem volume name:\s+nubo-data$/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a rebuild reproduces the data disk bit for bit, so existing overlays stay valid', async () => {
  const image = await buildTinyImage({ cacheDir });
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cache-'));
  try {
    const other = await buildTinyImage({ cacheDir: dir });
    assert.equal(other.kernelVersion, image.kernelVersion);
    const digest = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');
    assert.equal(await digest(other.dataDisk), await digest(image.dataDisk));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('findTinyImage ignores a missing, half-written or stale image', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cache-'));
  try {
    assert.equal(await findTinyImage(dir), undefined);
    const img = join(dir, 'nubo-tiny');
    await mkdir(img);
    for (const f of ['vmlinuz', 'initramfs.gz', 'data.qcow2']) await writeFile(join(img, f), 'x');
    // Files without a manifest: a crash before the build finished.
    assert.equal(await findTinyImage(dir), undefined);
    // A manifest from another recipe (other init script, modules or cmdline).
    const real = JSON.parse(await readFile(join((await buildTinyImage({ cacheDir })).dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(img, 'manifest.json'), JSON.stringify({ ...real, recipe: 'other' }));
    assert.equal(await findTinyImage(dir), undefined);
    await writeFile(join(img, 'manifest.json'), JSON.stringify(real));
    assert.equal((await findTinyImage(dir))?.kernel, join(img, 'vmlinuz'));
    await rm(join(img, 'data.qcow2'));
    assert.equal(await findTinyImage(dir), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a package apt cannot fetch fails with IMAGE_BUILD_FAILED naming it, and leaves no half image', async () => {
  // Stand-ins for apt on PATH: the meta package resolves, the download fails
  // the way apt does for an unknown package.
  const dir = await mkdtemp(join(tmpdir(), 'nubo-apt-'));
  const bin = join(dir, 'bin');
  const cache = join(dir, 'cache');
  await mkdir(bin);
  await writeFile(join(bin, 'apt-cache'), '#!/bin/sh\necho linux-image-cloud-amd64\necho "  Depends: linux-image-6.1.0-99-cloud-amd64"\n', { mode: 0o755 });
  await writeFile(join(bin, 'apt-get'), '#!/bin/sh\nfor a; do last=$a; done\necho "E: Unable to locate package $last" >&2\nexit 100\n', { mode: 0o755 });
  const path = process.env['PATH'];
  process.env['PATH'] = `${bin}:${path ?? ''}`;
  try {
    await assert.rejects(buildTinyImage({ cacheDir: cache }), (err: unknown) => {
      assert.ok(err instanceof ImageBuildError, String(err));
      assert.equal(err.code, 'IMAGE_BUILD_FAILED');
      assert.equal(err.step, 'download');
      assert.equal(err.package, 'linux-image-6.1.0-99-cloud-amd64');
      assert.match(err.message, /linux-image-6\.1\.0-99-cloud-amd64/);
      assert.match(err.message, /apt-get update/);
      assert.match(err.message, /E: Unable to locate package linux-image-6\.1\.0-99-cloud-amd64/);
      return true;
    });
    assert.deepEqual(await readdir(cache), []);
  } finally {
    if (path === undefined) delete process.env['PATH'];
    else process.env['PATH'] = path;
    await rm(dir, { recursive: true, force: true });
  }
});
