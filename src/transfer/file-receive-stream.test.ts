import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileReceiveStream } from './file-receive-stream.js';

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-recv-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Many small chunks, as a socket delivers them. */
function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

test('writes exactly what arrived, batched, and hashes it', async () => {
  await inDir(async (dir) => {
    const bytes = randomBytes(6 * 1024 * 1024 + 5);
    const fh = await open(join(dir, 'out'), 'w');
    let reported = 0;
    const sink = new FileReceiveStream(fh, { onBytes: (n) => (reported += n) });
    assert.equal(sink.paced, false, 'no cap: no pacer in the path');
    try {
      await pipeline(Readable.from(chunksOf(bytes, 65_536)), sink);
    } finally {
      await fh.close();
    }
    assert.ok((await readFile(join(dir, 'out'))).equals(bytes));
    assert.equal(sink.writtenBytes, bytes.length);
    assert.equal(reported, bytes.length);
    assert.equal(sink.chunkCount, Math.ceil(bytes.length / 65_536));
    assert.equal(await sink.digest(), createHash('sha256').update(bytes).digest('hex'));
  });
});

test('a cap holds where the bytes arrive too (a sender that does not pace)', async () => {
  await inDir(async (dir) => {
    const bytes = randomBytes(300_000);
    const fh = await open(join(dir, 'out'), 'w');
    const sink = new FileReceiveStream(fh, { maxBytesPerSecond: 500_000 });
    assert.equal(sink.paced, true);
    const t0 = Date.now();
    try {
      await pipeline(Readable.from(chunksOf(bytes, 10_000)), sink);
    } finally {
      await fh.close();
    }
    const ms = Date.now() - t0;
    assert.ok((await readFile(join(dir, 'out'))).equals(bytes));
    // 300 kB at 500 kB/s: 600 ms, less the 50 ms burst.
    assert.ok(ms >= 540, `took ${ms} ms`);
  });
});

test('a failed write fails the stream', async () => {
  await inDir(async (dir) => {
    const fh = await open(join(dir, 'out'), 'w');
    await fh.close();
    const sink = new FileReceiveStream(fh);
    await assert.rejects(pipeline(Readable.from([Buffer.alloc(10)]), sink), { code: 'EBADF' });
  });
});
