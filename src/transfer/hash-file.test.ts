import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashTrail, TrailingHash, hashFile, hashWorkerReady, prewarmHashWorker } from './hash-file.js';

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

test('a worker started ahead (prewarmHashWorker) is the next hash\'s, and another waits after it; unasked, none waits', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-hash-'));
  try {
    const bytes = randomBytes(2 * 1024 * 1024 + 5);
    await writeFile(join(dir, 'f'), bytes);
    const want = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
    assert.equal(hashWorkerReady(), false, 'no thread waits in a process that did not ask for one');
    assert.deepEqual(await hashFile(join(dir, 'f')), want);
    assert.equal(hashWorkerReady(), false, 'a hash of its own leaves none behind');
    prewarmHashWorker();
    prewarmHashWorker();
    assert.equal(hashWorkerReady(), true);
    // A trail that has not moved holds the hash: while it waits, the ready thread is the one hashing.
    const fh = await open(join(dir, 'f'), 'r');
    try {
      const trail = new HashTrail();
      const hashing = hashFile(join(dir, 'f'), { fd: fh.fd, trail, timeoutMs: 10_000 });
      assert.equal(hashWorkerReady(), false, 'the hash took the waiting thread');
      trail.advance(1024 * 1024);
      trail.end();
      assert.deepEqual(await hashing, want, 'the job posted to a thread started before it: the same digest, trail and all');
    } finally {
      await fh.close();
    }
    assert.equal(hashWorkerReady(), true, 'another waits for the next hash');
    // A paced job on a thread that waited: paced from the job's arrival, not from the thread's start.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rate = 8 * 1024 * 1024;
    const t0 = performance.now();
    assert.deepEqual(await hashFile(join(dir, 'f'), { pace: { bytesPerSecond: rate, burstBytes: 256 * 1024 }, chunkBytes: 128 * 1024 }), want);
    const s = (performance.now() - t0) / 1000;
    assert.ok(s >= (bytes.length - 256 * 1024) / rate, `${bytes.length} bytes hashed in ${s.toFixed(2)} s at a pace of ${rate} B/s`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('TrailingHash: the digest of what the copy read, trailing it; a source of another size is refused; settle stops a hash still waiting', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-hash-'));
  const fh = await open(join(dir, 'f'), 'w+');
  try {
    const bytes = randomBytes(3 * 1024 * 1024);
    await fh.write(bytes, 0, bytes.length, 0);
    const want = createHash('sha256').update(bytes).digest('hex');
    const signal = AbortSignal.timeout(20_000);
    const h = new TrailingHash(join(dir, 'f'), { fd: fh.fd, sizeBytes: bytes.length, signal, what: 'test copy' });
    h.advance(bytes.length / 2);
    h.advance(bytes.length);
    assert.equal((await h.digest()).sha256, want);
    await h.settle();
    const free = new TrailingHash(join(dir, 'f'), { fd: fh.fd, sizeBytes: bytes.length, signal, what: 'test copy', follow: false });
    assert.equal((await free.digest()).sha256, want, 'not following a copy: hashed to the end without being told');
    await free.settle();
    const short = new TrailingHash(join(dir, 'f'), { fd: fh.fd, sizeBytes: bytes.length + 1, signal, what: 'test copy' });
    await assert.rejects(short.digest(), { code: 'TRANSFER_FAILED', message: /the source has 3145728 bytes, the offer said 3145729/ });
    await short.settle();
    // Never told anything and never ended: only settle() ends it, promptly (not at the 20 s signal).
    const t0 = performance.now();
    const stuck = new TrailingHash(join(dir, 'f'), { fd: fh.fd, sizeBytes: bytes.length, signal, what: 'test copy' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stuck.settle();
    assert.ok(performance.now() - t0 < 5_000, 'settled at once');
    // A hash that fails (a descriptor closed under it) is told by digest(), not as an unhandled rejection.
    const failing = new TrailingHash('/nonexistent/nubo-trailing-hash', { fd: 987654, sizeBytes: 10, signal, what: 'test copy', follow: false });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assert.rejects(failing.digest(), { code: 'EBADF' });
    await failing.settle();
  } finally {
    await fh.close();
    await rm(dir, { recursive: true, force: true });
  }
});
