import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../util/run-command.js';
import { OverlayBlanks } from './overlay-blanks.js';
import { createImage, createOverlay, imageInfo } from './qemu-img.js';

const dir = await mkdtemp(join(tmpdir(), 'nubo-overlay-blanks-'));
after(() => rm(dir, { recursive: true, force: true }));

const qemuIo = (path: string, cmd: string): Promise<{ stdout: string }> => runCommand('qemu-io', ['-f', 'qcow2', '-c', cmd, path]);

test('overlays written from the kept blank are the bytes qemu-img makes, read their base and take writes of their own', async () => {
  const base = join(dir, 'base.qcow2');
  await createImage(base, 'qcow2', 64 * 2 ** 20);
  await qemuIo(base, 'write -P 0xab 0 1M');
  const blanks = new OverlayBlanks();
  await blanks.create(base, 'qcow2', join(dir, 'a.qcow2'));
  assert.equal(blanks.size, 1, 'the first overlay of a base is kept as its blank');
  await blanks.create(base, 'qcow2', join(dir, 'b.qcow2'));
  assert.equal(blanks.size, 1);
  // What qemu-img itself makes at b's place: the same bytes.
  await createOverlay(base, 'qcow2', join(dir, 'ref.qcow2'));
  assert.deepEqual(await readFile(join(dir, 'b.qcow2')), await readFile(join(dir, 'ref.qcow2')));
  const info = await imageInfo(join(dir, 'b.qcow2'));
  assert.equal(info.virtualSize, 64 * 2 ** 20);
  await runCommand('qemu-img', ['check', '-q', join(dir, 'b.qcow2')]);
  // Each overlay is its own: a write to one is not seen by the other, and both read the base.
  await qemuIo(join(dir, 'b.qcow2'), 'write -P 0xcd 0 64k');
  assert.doesNotMatch((await qemuIo(join(dir, 'b.qcow2'), 'read -P 0xcd 0 64k')).stdout, /verification failed/);
  assert.doesNotMatch((await qemuIo(join(dir, 'a.qcow2'), 'read -P 0xab 0 1M')).stdout, /verification failed/);
  assert.doesNotMatch((await qemuIo(join(dir, 'b.qcow2'), 'read -P 0xab 64k 960k')).stdout, /verification failed/);
});

test('a base replaced under the same path gets a blank of its own: the overlay has the new base\'s size, not the old blank\'s', async () => {
  const base = join(dir, 'swapped.qcow2');
  await createImage(base, 'qcow2', 16 * 2 ** 20);
  const blanks = new OverlayBlanks();
  await blanks.create(base, 'qcow2', join(dir, 's1.qcow2'));
  await rm(base);
  await createImage(base, 'qcow2', 48 * 2 ** 20);
  await blanks.create(base, 'qcow2', join(dir, 's2.qcow2'));
  assert.equal((await imageInfo(join(dir, 's2.qcow2'))).virtualSize, 48 * 2 ** 20);
});

test('a raw base, an existing file at the target overwritten, and at most `max` blanks kept', async () => {
  const blanks = new OverlayBlanks(2);
  for (const n of [1, 2, 3]) {
    const base = join(dir, `raw${n}.img`);
    await writeFile(base, Buffer.alloc(n * 2 ** 20, n));
    const target = join(dir, `r${n}.qcow2`);
    await writeFile(target, 'left over');
    await blanks.create(base, 'raw', target);
    await blanks.create(base, 'raw', target);
    const info = await imageInfo(target);
    assert.equal(info.virtualSize, n * 2 ** 20);
    assert.doesNotMatch((await qemuIo(target, `read -P ${n} 0 ${n}M`)).stdout, /verification failed/);
  }
  assert.equal(blanks.size, 2);
});
