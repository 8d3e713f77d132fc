import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transferLocalSourceSchema } from '../contract/agent-api.js';
import { bootId, isOfferedFile, localSourceOf } from './local-source.js';

test('the boot id is the kernel\'s; a file without one gives none (and no local source)', async () => {
  assert.match((await bootId()) ?? '', /^[0-9a-f-]{36}$/);
  const dir = await mkdtemp(join(tmpdir(), 'nubo-local-src-'));
  try {
    await writeFile(join(dir, 'boot_id'), 'not an id\n');
    assert.equal(await bootId(join(dir, 'boot_id')), undefined);
    assert.equal(await bootId(join(dir, 'missing')), undefined);
    assert.equal(await localSourceOf(join(dir, 'boot_id'), undefined), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file is the offered one only with the same device, inode and size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-local-src-'));
  try {
    await writeFile(join(dir, 'a'), 'abc');
    await writeFile(join(dir, 'b'), 'abc');
    const src = (await localSourceOf(join(dir, 'a'), await bootId()))!;
    assert.ok(transferLocalSourceSchema.safeParse(src).success);
    const [a, b] = [await open(join(dir, 'a')), await open(join(dir, 'b'))];
    try {
      assert.equal(await isOfferedFile(a, src, 3), true);
      assert.equal(await isOfferedFile(a, src, 4), false);
      assert.equal(await isOfferedFile(b, src, 3), false);
    } finally {
      await a.close();
      await b.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the wire schema rejects a relative path, a bad boot id and non-numeric device or inode, naming each field', () => {
  const r = transferLocalSourceSchema.safeParse({ bootId: 'x', path: 'vms/disk', dev: '-1', ino: 'abc' });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues.map((i) => i.path.join('.')).sort(), ['bootId', 'dev', 'ino', 'path']);
});
