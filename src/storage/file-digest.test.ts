import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileDigest } from './file-digest.js';

test('fileDigest hashes the whole file, or only the range asked for', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-digest-'));
  try {
    const bytes = randomBytes(300_000);
    const f = join(dir, 'f.bin');
    await writeFile(f, bytes);
    assert.equal(await fileDigest(f, 'sha256'), createHash('sha256').update(bytes).digest('hex'));
    assert.equal(await fileDigest(f, 'md5', undefined, { offset: 70_001, count: 100_000 }), createHash('md5').update(bytes.subarray(70_001, 170_001)).digest('hex'));
    assert.equal(await fileDigest(f, 'md5', undefined, { offset: 299_999, count: 1 }), createHash('md5').update(bytes.subarray(299_999)).digest('hex'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
