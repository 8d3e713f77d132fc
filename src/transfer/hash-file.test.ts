import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashTrail, hashFile } from './hash-file.js';

test('the sha256 and size of a whole file, read in chunks off the event loop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-hash-'));
  try {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(dir, 'f'), bytes);
    const d = await hashFile(join(dir, 'f'), { chunkBytes: 1024 * 1024 });
    assert.deepEqual(d, { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
    // Expected small: hashed on this thread, the same answer.
    assert.deepEqual(await hashFile(join(dir, 'f'), { expectedBytes: bytes.length, chunkBytes: 64 * 1024 }), d);
    await writeFile(join(dir, 'empty'), '');
    assert.deepEqual(await hashFile(join(dir, 'empty')), { sha256: createHash('sha256').digest('hex'), bytes: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing file rejects with its error; an aborted signal stops the worker with its reason', async () => {
  await assert.rejects(hashFile('/nonexistent/nubo-hash-file'), { code: 'ENOENT' });
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  await assert.rejects(hashFile('/dev/zero', { signal: ac.signal }), /gone/);
  // /dev/zero never ends: only the deadline stops it.
  await assert.rejects(hashFile('/dev/zero', { timeoutMs: 200 }), { code: 'TIMEOUT' });
  await assert.rejects(hashFile('/dev/zero', { expectedBytes: 1, timeoutMs: 200 }), { code: 'TIMEOUT' });
  await assert.rejects(hashFile('/nonexistent/nubo-hash-file', { expectedBytes: 1 }), { code: 'ENOENT' });
});

test('with a descriptor: the digest of the file it names, read from offset 0, whatever the path names by then; the descriptor stays open', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-hash-'));
  try {
    const bytes = randomBytes(9 * 1024 * 1024 + 3);
    const path = join(dir, 'f');
    await writeFile(path, bytes);
    const fh = await open(path, 'r');
    try {
      // The path now names another file: the descriptor still reads the first.
      await rename(path, join(dir, 'moved'));
      await writeFile(path, 'another file');
      const want = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
      assert.deepEqual(await hashFile(path, { fd: fh.fd }), want, 'in a worker');
      assert.deepEqual(await hashFile(path, { fd: fh.fd, expectedBytes: 1 }), want, 'on this thread');
      assert.equal((await fh.stat()).size, bytes.length, 'the descriptor is still open');
    } finally {
      await fh.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('paced: no faster than the cap from the worker\'s start (N bytes at R take ≥ N/R less the burst), with no copy telling it anything; with a trail, as far as either allows', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-hash-'));
  try {
    const bytes = randomBytes(6 * 1024 * 1024);
    await writeFile(join(dir, 'f'), bytes);
    const want = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    const rate = 10 * 1024 * 1024;
    const t0 = performance.now();
    assert.deepEqual(await hashFile(join(dir, 'f'), { pace: { bytesPerSecond: rate, burstBytes: 1024 * 1024 }, chunkBytes: 256 * 1024 }), want);
    const s = (performance.now() - t0) / 1000;
    assert.ok(s >= (bytes.length - 1024 * 1024) / rate, `${bytes.length} bytes hashed in ${s.toFixed(2)} s at a pace of ${rate} B/s`);
    // A trail that never moves holds back no paced hash.
    assert.deepEqual(await hashFile(join(dir, 'f'), { trail: new HashTrail(), pace: { bytesPerSecond: 100 * rate, burstBytes: 1024 * 1024 }, timeoutMs: 10_000 }), want);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
