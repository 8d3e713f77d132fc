import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../util/run-command.js';
import { convertDiskImage } from './convert-disk-image.js';
import { inspectDiskImage } from './inspect-disk-image.js';

test('convertDiskImage: vdi → qcow2 and qcow2 → streamOptimized vmdk keep the content; failures and aborts leave no file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-convert-'));
  try {
    const src = join(dir, 'src.qcow2');
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', src, '4M']);
    await runCommand('qemu-io', ['-c', 'write -P 0x5a 1M 512k', src]);
    await runCommand('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'vdi', src, join(dir, 'src.vdi')]);
    await convertDiskImage(join(dir, 'src.vdi'), 'vdi', join(dir, 'out.qcow2'), { format: 'qcow2' });
    await convertDiskImage(src, 'qcow2', join(dir, 'out.vmdk'), { format: 'vmdk', subformat: 'streamOptimized' });
    assert.equal((await inspectDiskImage(join(dir, 'out.vmdk'))).subformat, 'streamOptimized');
    for (const out of ['out.qcow2', 'out.vmdk']) await runCommand('qemu-img', ['compare', '-q', src, join(dir, out)]);
    const before = (await readdir(dir)).sort();
    await assert.rejects(convertDiskImage(join(dir, 'src.vdi'), 'qcow2', join(dir, 'bad.qcow2'), { format: 'qcow2' }), /qemu-img convert/);
    const ctl = new AbortController();
    ctl.abort(new Error('stop'));
    await assert.rejects(convertDiskImage(src, 'qcow2', join(dir, 'aborted.qcow2'), { format: 'qcow2' }, { signal: ctl.signal }), /stop/);
    assert.deepEqual((await readdir(dir)).sort(), before, 'no temporary or partial file is left');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
