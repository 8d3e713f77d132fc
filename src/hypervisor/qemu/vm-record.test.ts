import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnreadableFileError } from '../../errors/unreadable-file-error.js';
import { parseVmSpec } from '../vm-spec.js';
import { QemuDriver } from './qemu-driver.js';
import { readVmRecord, writeVmRecord, type VmRecord } from './vm-record.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-rec-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const spec = parseVmSpec({ id: 'vm-1', vcpus: 1, memoryMiB: 128, boot: { kind: 'kernel', kernel: '/images/k' }, nics: [{ kind: 'user', id: 'nic0', mac: '52:54:00:00:00:01', net: '198.18.250.0/24' }] });

test('a VM record is validated when read: a torn or wrong one is a typed error, never "no record"', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'vm.json');
    assert.equal(await readVmRecord(path), undefined);
    const rec: VmRecord = { spec, taps: [{ name: 'nt1-0', netns: 'h1' }, { name: 'nt2-0' }], startedAt: new Date(0).toISOString(), migration: { role: 'incoming', nbd: true, tls: false }, movedDisks: [] };
    await writeVmRecord(path, rec);
    assert.deepEqual(await readVmRecord(path), rec);
    for (const bad of ['{"spec":', JSON.stringify({ ...rec, spec: { ...spec, id: '../x' } }), JSON.stringify({ ...rec, taps: 'nt1-0' }), JSON.stringify({ ...rec, migration: { role: 'sideways' } })]) {
      await writeFile(path, bad);
      await assert.rejects(readVmRecord(path), (err: unknown) => err instanceof UnreadableFileError && err.code === 'FILE_UNREADABLE' && err.path === path);
    }
  });
});

test('adoption passes over an unusable record and a directory that is no VM id, and adopts nothing from them', async () => {
  await withDir(async (dir) => {
    const runDir = join(dir, 'run');
    await mkdir(join(runDir, 'vm-torn'), { recursive: true });
    await writeFile(join(runDir, 'vm-torn', 'vm.json'), '{"spec":');
    await mkdir(join(runDir, 'Not_An_Id'), { recursive: true });
    const driver = await QemuDriver.create({ runDir, allowedDirs: [dir], accel: 'tcg' });
    try {
      assert.deepEqual(await driver.adopt(), []);
    } finally {
      await driver.close();
    }
  });
});
