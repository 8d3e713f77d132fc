import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileSendStream } from './file-send-stream.js';

async function withFile(bytes: Buffer, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-send-'));
  try {
    await writeFile(join(dir, 'f'), bytes);
    await fn(join(dir, 'f'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function collect(into: Buffer[]): Writable {
  return new Writable({ write(c: Buffer, _e, cb) { into.push(Buffer.from(c)); cb(); } });
}

test('streams the whole file in large reads, with the sha256 of what it read', async () => {
  const bytes = randomBytes(9 * 1024 * 1024 + 17);
  await withFile(bytes, async (path) => {
    const got: Buffer[] = [];
    const s = new FileSendStream(await open(path, 'r'), { sizeBytes: bytes.length });
    assert.equal(s.paced, false, 'no cap: no pacer in the path');
    await pipeline(s, collect(got));
    assert.ok(Buffer.concat(got).equals(bytes));
    assert.equal(got[0]!.length, 4 * 1024 * 1024, 'reads of 4 MiB');
    assert.equal(await s.digest(), createHash('sha256').update(bytes).digest('hex'));
  });
});

test('a file that ends before or after its recorded size has no digest', async () => {
  const bytes = randomBytes(100_000);
  await withFile(bytes, async (path) => {
    for (const size of [bytes.length + 1, bytes.length - 1]) {
      const s = new FileSendStream(await open(path, 'r'), { sizeBytes: size });
      await pipeline(s, collect([]));
      assert.equal(s.sentBytes, bytes.length);
      assert.equal(await s.digest(), undefined, `recorded ${size}, file ${bytes.length}`);
    }
  });
});

test('no digest before the end, nor after a destroy midway', async () => {
  const bytes = randomBytes(3 * 1024 * 1024);
  await withFile(bytes, async (path) => {
    const s = new FileSendStream(await open(path, 'r'), { sizeBytes: bytes.length, chunkBytes: 1024 * 1024 });
    assert.equal(await s.digest(), undefined);
    await assert.rejects(pipeline(s, new Writable({ write(_c, _e, cb) { cb(new Error('receiver gone')); } })), /receiver gone/);
    assert.equal(await s.digest(), undefined);
  });
});

test('a cap paces the reads themselves from the first byte, in slices of about 50 ms', async () => {
  const rate = 400_000;
  const bytes = randomBytes(200_000);
  await withFile(bytes, async (path) => {
    const got: Buffer[] = [];
    const s = new FileSendStream(await open(path, 'r'), { sizeBytes: bytes.length, maxBytesPerSecond: rate });
    assert.equal(s.paced, true);
    const t0 = Date.now();
    await pipeline(s, collect(got));
    const ms = Date.now() - t0;
    assert.ok(Buffer.concat(got).equals(bytes));
    assert.equal(got[0]!.length, 20_000, 'slices of 50 ms at the cap');
    // 200 kB at 400 kB/s is 500 ms, less the 50 ms a pacer lets run ahead.
    assert.ok(ms >= 440, `took ${ms} ms`);
    assert.equal(await s.digest(), createHash('sha256').update(bytes).digest('hex'));
  });
});
