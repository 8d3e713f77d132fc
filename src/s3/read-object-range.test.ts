import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { readObjectRange } from './read-object-range.js';
import { S3BlobStore } from './s3-blob-store.js';

describe('readObjectRange over real blob files', () => {
  let dir: string;
  let blobs: S3BlobStore;
  // Parts of 5 MiB + 1 byte (more than one read of 4 MiB), 3 bytes, nothing and 6 MiB.
  const parts = [randomBytes((5 << 20) + 1), randomBytes(3), Buffer.alloc(0), randomBytes(6 << 20)];
  const whole = Buffer.concat(parts);
  let spans: { blobId: string; size: number }[];
  const never = new AbortController().signal;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nubo-read-range-'));
    blobs = new S3BlobStore(dir);
    await blobs.init();
    spans = [];
    for (const p of parts) {
      const w = await blobs.write(Readable.from([p]), undefined, { signal: never, maxBytes: 1 << 30, onTooLarge: () => new RangeError('too large') });
      spans.push({ blobId: w.blobId, size: w.size });
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const read = (start: number, end: number): Promise<Buffer> => readObjectRange(blobs, spans, start, end, async (body) => {
    const got: Buffer[] = [];
    await pipeline(body, new Writable({ write(c: Buffer, _e, done) { got.push(c); done(); } }));
    return Buffer.concat(got);
  });

  it('reads the whole object across its parts, in order', async () => {
    assert.ok((await read(0, whole.length - 1)).equals(whole));
  });

  it('reads ranges within a part and across part boundaries (and across the empty part)', async () => {
    const b1 = parts[0]!.length;
    for (const [s, e] of [[0, 0], [10, 4 << 20], [b1 - 2, b1 + 1], [b1 - 1, b1 + 3], [b1 + 2, b1 + 10], [whole.length - 5, whole.length - 1], [1, whole.length - 2]] as const) {
      assert.ok((await read(s, e)).equals(whole.subarray(s, e + 1)), `bytes ${s}-${e}`);
    }
  });

  it('a blob removed after the range was opened is still read whole; one missing before fails before the body is used', async () => {
    const r = await readObjectRange(blobs, spans, 0, whole.length - 1, async (body) => {
      await blobs.remove(spans.map((s) => s.blobId));
      const got: Buffer[] = [];
      for await (const c of body) got.push(c as Buffer);
      return Buffer.concat(got);
    });
    assert.ok(r.equals(whole));
    let used = false;
    await assert.rejects(readObjectRange(blobs, spans, 0, 10, async () => { used = true; }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.equal(used, false);
  });
});
