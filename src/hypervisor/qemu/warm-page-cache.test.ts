import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { warmPageCache } from './warm-page-cache.js';

test('reads the whole file; a missing file reads nothing and does not reject', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-warm-'));
  try {
    await writeFile(join(dir, 'state'), Buffer.alloc(9 * 1024 * 1024 + 5, 1));
    assert.equal(await warmPageCache(join(dir, 'state'), new AbortController().signal), 9 * 1024 * 1024 + 5);
    assert.equal(await warmPageCache(join(dir, 'missing'), new AbortController().signal), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stops at the signal: an aborted warm-up reads nothing more', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-warm-'));
  try {
    await writeFile(join(dir, 'state'), Buffer.alloc(9 * 1024 * 1024, 1));
    const ac = new AbortController();
    ac.abort();
    assert.equal(await warmPageCache(join(dir, 'state'), ac.signal), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
