import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../util/run-command.js';
import { DiskImageError, type DiskImageProblem } from './disk-image-error.js';
import { inspectDiskImage } from './inspect-disk-image.js';

let dir: string;
let store: string;
const img = async (...args: string[]): Promise<void> => {
  await runCommand('qemu-img', args);
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nubo-inspect-'));
  store = join(dir, 'store');
  await mkdir(store);
  await img('create', '-q', '-f', 'qcow2', join(dir, 'a.qcow2'), '4M');
  await runCommand('qemu-io', ['-c', 'write -P 0xab 0 1M', join(dir, 'a.qcow2')]);
  for (const [fmt, opts] of [['vmdk', []], ['vdi', []], ['raw', []], ['vpc', []]] as const) {
    await img('convert', '-q', '-f', 'qcow2', '-O', fmt, ...opts, join(dir, 'a.qcow2'), join(dir, `a.${fmt}`));
  }
  await img('convert', '-q', '-f', 'qcow2', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'a.qcow2'), join(dir, 's.vmdk'));
  await img('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', join(dir, 'flat.vmdk'), '1M');
  await img('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'ext.raw')}`, join(dir, 'ext.qcow2'), '1M');
  await img('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/hostname', join(dir, 'outside.qcow2'));
  await img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(dir, 'a.qcow2'), join(dir, 'inside.qcow2'));
  await img('convert', '-q', '-f', 'raw', '-O', 'raw', join(dir, 'a.raw'), join(store, 'a.raw'));
  await img('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', 'a.raw', join(store, 'relative.qcow2'));
  await writeFile(join(dir, 'zero.raw'), '');
  await writeFile(join(dir, 'text.vmdk'), 'just some text, not a disk\n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('qcow2, raw, vmdk (sparse and streamOptimized) and vdi: detected format, virtual and actual size', async () => {
  for (const [file, format, subformat] of [['a.qcow2', 'qcow2'], ['a.raw', 'raw'], ['a.vmdk', 'vmdk', 'monolithicSparse'], ['s.vmdk', 'vmdk', 'streamOptimized'], ['a.vdi', 'vdi']] as const) {
    const i = await inspectDiskImage(join(dir, file), { declaredFormat: format });
    assert.equal(i.format, format, file);
    assert.equal(i.virtualSize, 4 << 20, file);
    assert.ok(i.actualSize > 0, file);
    assert.equal(i.subformat, subformat, file);
  }
  assert.equal((await inspectDiskImage(join(dir, 'a.vdi'))).format, 'vdi', 'without a declared format: what qemu-img detects');
});

test('refusals say what is wrong with which file', async () => {
  const cases: readonly (readonly [string, Parameters<typeof inspectDiskImage>[1], DiskImageProblem, RegExp])[] = [
    ['text.vmdk', { declaredFormat: 'vmdk' }, 'format-mismatch', /^file text\.vmdk is not a vmdk image: qemu-img detects raw$/],
    ['a.qcow2', { declaredFormat: 'raw', displayName: '/srv/x.img' }, 'format-mismatch', /^file \/srv\/x\.img is not a raw image: qemu-img detects qcow2$/],
    ['a.vpc', {}, 'unsupported-format', /a\.vpc is a vpc image; nubo takes qcow2, raw, vmdk, vdi/],
    ['outside.qcow2', { datastoreDir: store }, 'backing-file', /outside\.qcow2 has a backing file \(\/etc\/hostname, which points outside the datastore\)/],
    ['inside.qcow2', {}, 'backing-file', /has a backing file \(.*a\.qcow2\); a base image must stand alone/],
    [join('store', 'relative.qcow2'), { datastoreDir: store }, 'backing-file', /has a backing file \(a\.raw, inside the datastore\)/],
    ['flat.vmdk', {}, 'external-file', /flat\.vmdk is a monolithicFlat vmdk whose data lies in other files \(\S*flat-flat\.vmdk\)/],
    ['ext.qcow2', {}, 'external-file', /keeps its data in an external file/],
    ['zero.raw', {}, 'empty', /zero\.raw is a zero-size disk/],
    ['missing.qcow2', {}, 'unreadable', /qemu-img cannot read missing\.qcow2/],
  ];
  for (const [file, opts, problem, re] of cases) {
    await assert.rejects(inspectDiskImage(join(dir, file), opts), (e: unknown) => e instanceof DiskImageError && e.problem === problem && re.test(e.message), `${file}: ${re}`);
  }
});
