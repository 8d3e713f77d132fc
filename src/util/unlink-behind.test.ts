import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unlinkBehind } from './unlink-behind.js';

test('unlinkBehind: the name is gone once it resolves, and the directory holds nothing else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-unlink-behind-'));
  try {
    const f = join(dir, 'memory.state');
    await writeFile(f, Buffer.alloc(4 * 1024 * 1024, 7));
    await unlinkBehind(f);
    await assert.rejects(stat(f), { code: 'ENOENT' });
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unlinkBehind: a missing file is no error (as rm with force)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-unlink-behind-'));
  try {
    await unlinkBehind(join(dir, 'absent'));
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unlinkBehind: a directory is refused, as rm without recursive refuses it, and left in place', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-unlink-behind-'));
  try {
    await assert.rejects(unlinkBehind(dir));
    assert.ok((await stat(dir)).isDirectory());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
