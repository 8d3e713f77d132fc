import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHostBridges, readSysBridges } from './host-facts.js';

test('bridges are read from sysfs: the links with a bridge directory, sorted, without spawning ip', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-sysnet-'));
  try {
    for (const l of ['nubo0', 'eth0', 'br-lab', 'lo', 'tap1']) await mkdir(join(dir, l));
    await mkdir(join(dir, 'nubo0', 'bridge'));
    await mkdir(join(dir, 'br-lab', 'bridge'));
    // A file named bridge is no bridge's sysfs entry.
    await writeFile(join(dir, 'tap1', 'bridge'), '');
    assert.deepEqual(await readSysBridges(dir), ['br-lab', 'nubo0']);
    assert.deepEqual(await readHostBridges(undefined, dir), ['br-lab', 'nubo0'], 'the root namespace reads sysfs');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreadable sysfs directory is an error, not "no bridges"', async () => {
  await assert.rejects(readSysBridges(join(tmpdir(), 'nubo-no-such-sysnet')), /ENOENT/);
});
