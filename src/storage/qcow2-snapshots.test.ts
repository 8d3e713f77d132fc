import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage } from './qemu-img.js';
import { runCommand } from '../util/run-command.js';
import { createFileSnapshot, deleteFileSnapshot, listFileSnapshots, revertFileSnapshot } from './qcow2-snapshots.js';

const dir = await mkdtemp(join(tmpdir(), 'nubo-qcow2-snap-'));
after(() => rm(dir, { recursive: true, force: true }));

/** Writes one byte pattern over the first 64 KiB; `reads` says whether that pattern is there. */
const write = (path: string, pattern: number): Promise<unknown> => runCommand('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} 0 64k`, path]);
const reads = async (path: string, pattern: number): Promise<boolean> => {
  const { stdout } = await runCommand('qemu-io', ['-f', 'qcow2', '-c', `read -P ${pattern} 0 64k`, path]);
  return !/Pattern verification failed/.test(stdout);
};

test('create, list, revert and delete with qemu-img; a name that looks like another snapshot\'s id reverts to its own', async () => {
  const disk = join(dir, 'disk.qcow2');
  await createImage(disk, 'qcow2', 16 * 2 ** 20);
  assert.deepEqual(await listFileSnapshots(disk), []);
  await write(disk, 0xaa);
  await createFileSnapshot(disk, 'x');
  await write(disk, 0xbb);
  // Tagged "1" while the snapshot "x" has id 1: qemu-img's `-a 1` would take x.
  await createFileSnapshot(disk, '1');
  await write(disk, 0xcc);
  const list = await listFileSnapshots(disk);
  assert.deepEqual(list.map((s) => [s.name, s.id, s.vmClockSec]), [['x', '1', 0], ['1', '2', 0]]);
  assert.ok(Math.abs(Date.parse(list[0]!.createdAt) - Date.now()) < 60_000, list[0]!.createdAt);

  await revertFileSnapshot(disk, list.find((s) => s.name === '1')!.id);
  assert.equal(await reads(disk, 0xbb), true, 'reverted to the snapshot named "1"');
  await revertFileSnapshot(disk, list.find((s) => s.name === 'x')!.id);
  assert.equal(await reads(disk, 0xaa), true, 'reverted to x');

  await deleteFileSnapshot(disk, '1');
  assert.deepEqual((await listFileSnapshots(disk)).map((s) => s.name), ['x'], 'the one named "1" went, not id 1');
  await assert.rejects(deleteFileSnapshot(disk, 'nope'), /not found/);
  await assert.rejects(listFileSnapshots(join(dir, 'missing.qcow2')));
});

test('the file is opened as qcow2, never probed: a raw file is refused; a path with a comma works', async () => {
  const raw = join(dir, 'raw.img');
  await createImage(raw, 'raw', 2 ** 20);
  await assert.rejects(createFileSnapshot(raw, 'a'), /not in qcow2 format/);
  await assert.rejects(listFileSnapshots(raw));
  const comma = join(dir, 'a,b.qcow2');
  await createImage(comma, 'qcow2', 2 ** 20);
  await createFileSnapshot(comma, 'a');
  assert.deepEqual((await listFileSnapshots(comma)).map((s) => s.name), ['a']);
  await deleteFileSnapshot(comma, 'a');
  assert.deepEqual(await listFileSnapshots(comma), []);
});
