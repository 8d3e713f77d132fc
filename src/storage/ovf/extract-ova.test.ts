import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../util/run-command.js';
import { extractOva } from './extract-ova.js';
import { OvfError } from './ovf-error.js';

let root: string;
let src: string;
let n = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-ova-x-'));
  src = join(root, 'src');
  await mkdir(src);
  await writeFile(join(src, 'vm.ovf'), '<Envelope/>');
  await writeFile(join(src, 'vm.mf'), 'SHA256(vm.ovf)= 00\n');
  await writeFile(join(src, 'vm-disk1.vmdk'), Buffer.alloc(100_000, 7));
  await symlink('/etc/passwd', join(src, 'link.vmdk'));
  await mkdir(join(src, 'sub'));
  await writeFile(join(src, 'sub', 'x.vmdk'), 'x');
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A tar made by GNU tar from `src`, with these members in this order. */
async function tarOf(members: readonly string[], extra: readonly string[] = []): Promise<string> {
  const file = join(root, `t${++n}.ova`);
  await runCommand('tar', ['-cf', file, '-C', src, ...extra, ...members]);
  return file;
}

async function freshDir(): Promise<string> {
  const d = join(root, `out${++n}`);
  await mkdir(d);
  return d;
}

test('an OVA made by GNU tar unpacks: the descriptor first, the manifest found, every member in order', async () => {
  const out = await freshDir();
  const c = await extractOva(await tarOf(['vm.ovf', 'vm.mf', 'vm-disk1.vmdk']), out);
  assert.deepEqual(c, { descriptor: 'vm.ovf', manifest: 'vm.mf', members: ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk'] });
  assert.deepEqual((await readdir(out)).sort(), ['vm-disk1.vmdk', 'vm.mf', 'vm.ovf']);
  assert.deepEqual(await readFile(join(out, 'vm-disk1.vmdk')), Buffer.alloc(100_000, 7));
  const dotted = await extractOva(await tarOf(['./vm.ovf', './vm-disk1.vmdk']), await freshDir());
  assert.deepEqual(dotted, { descriptor: 'vm.ovf', members: ['vm.ovf', 'vm-disk1.vmdk'] }, 'a leading ./ is the same name');
});

test('garbage, truncated, empty and mis-ordered archives, links, directories and paths are OvfErrors', async () => {
  const garbage = join(root, 'garbage.ova');
  await writeFile(garbage, Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 251)));
  const truncated = await tarOf(['vm.ovf', 'vm-disk1.vmdk']);
  await truncate(truncated, 50_000);
  const empty = join(root, 'empty.ova');
  await writeFile(empty, '');
  const zeros = join(root, 'zeros.ova');
  await writeFile(zeros, Buffer.alloc(10_240));
  const traversal = await tarOf(['vm.ovf', 'vm-disk1.vmdk'], ['--transform', 's,^vm-disk1,../escaped,']);
  const cases: readonly (readonly [string, RegExp])[] = [
    [garbage, /not a valid OVA \(tar\) archive/],
    [truncated, /not a valid OVA \(tar\) archive: .*[Tt]runcated/],
    [empty, /not a valid OVA \(tar\) archive/],
    [zeros, /not a valid OVA \(tar\) archive/],
    [await tarOf(['vm-disk1.vmdk', 'vm.ovf']), /the first member must be the \.ovf descriptor, not vm-disk1\.vmdk/],
    [await tarOf(['vm.ovf', 'link.vmdk']), /member "link\.vmdk" is a SymbolicLink; an OVA holds plain files only/],
    [await tarOf(['vm.ovf', 'sub']), /member "sub\/" is a Directory/],
    [traversal, /member "\.\.\/escaped\.vmdk" is not a plain file name/],
    [await tarOf(['vm.ovf', 'vm.ovf'], ['--hard-dereference']), /member vm\.ovf appears twice/],
    [await tarOf(['vm.ovf', 'vm.ovf']), /member "vm\.ovf" is a Link/],
  ];
  for (const [file, re] of cases) {
    const out = await freshDir();
    await assert.rejects(extractOva(file, out), (e: unknown) => e instanceof OvfError && re.test(e.message), `${file}: ${re}`);
    assert.deepEqual((await readdir(root)).includes('escaped.vmdk'), false, 'nothing lands outside the directory');
  }
});

test('an aborted unpack rejects with the abort reason', async () => {
  const ctl = new AbortController();
  ctl.abort(new Error('stop'));
  await assert.rejects(extractOva(await tarOf(['vm.ovf', 'vm-disk1.vmdk']), await freshDir(), { signal: ctl.signal }), /stop/);
});
