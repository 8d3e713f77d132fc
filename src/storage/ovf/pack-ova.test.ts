import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { runCommand } from '../../util/run-command.js';
import { extractOva } from './extract-ova.js';
import { packOva } from './pack-ova.js';

test('packOva writes a tar with the descriptor first, in the given order, without owners; GNU tar and extractOva read it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-ova-p-'));
  try {
    const files = { 'vm.ovf': '<Envelope/>', 'vm.mf': 'SHA256(vm.ovf)= 00\n', 'vm-disk1.vmdk': 'd'.repeat(70_000), 'vm-kernel': 'k' };
    for (const [f, body] of Object.entries(files)) await writeFile(join(dir, f), body);
    const ova = join(dir, 'vm.ova');
    await pipeline(packOva(dir, ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk', 'vm-kernel']), createWriteStream(ova));
    const listing = (await runCommand('tar', ['-tvf', ova, '--numeric-owner'])).stdout.trim().split('\n');
    assert.deepEqual(listing.map((l) => l.split(/\s+/).pop()), ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk', 'vm-kernel']);
    for (const l of listing) assert.match(l, /^-\S+ 0\/0 /, `no owner: ${l}`);
    const out = join(dir, 'out');
    await mkdir(out);
    assert.deepEqual(await extractOva(ova, out), { descriptor: 'vm.ovf', manifest: 'vm.mf', members: ['vm.ovf', 'vm.mf', 'vm-disk1.vmdk', 'vm-kernel'] });
    for (const [f, body] of Object.entries(files)) assert.equal(await readFile(join(out, f), 'utf8'), body);
    assert.throws(() => packOva(dir, ['vm.mf', 'vm.ovf']), /starts with its \.ovf descriptor/);
    assert.throws(() => packOva(dir, ['vm.ovf', '../x']), /"\.\.\/x" is not a plain file name/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
