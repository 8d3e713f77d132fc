import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import { payloadReader } from '../aws/sigv4/payload-reader.js';
import { AwsPayloadError } from '../aws/sigv4/aws-payload-error.js';
import { S3BlobStore } from './s3-blob-store.js';
import { FLUSH_EVERY_BYTES, MAX_PENDING_BYTES, MIN_WRITE_BYTES } from './write-blob-file.js';

const never = new AbortController().signal;
const limits = { signal: never, maxBytes: 1 << 30, onTooLarge: () => new RangeError('too large') };
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** `data` cut into pieces of the given sizes, in turn (odd sizes: no piece boundary falls where a write or a batch ends). */
function pieces(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length] ?? 1;
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The AWS SDK's default upload body: aws-chunked, unsigned, a crc32 trailer (`crcOf` lets a test send a wrong one). */
function awsChunked(data: Buffer, chunk: number, crcOf: Buffer = data): Buffer {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc32(crcOf));
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunk) {
    const d = data.subarray(at, at + chunk);
    parts.push(Buffer.from(`${d.length.toString(16)}\r\n`), d, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${c.toString('base64')}\r\n\r\n`));
  return Buffer.concat(parts);
}

describe('S3BlobStore.write', () => {
  let dir: string;
  let blobs: S3BlobStore;
  let flushes = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nubo-blob-write-'));
    blobs = new S3BlobStore(dir, () => void (flushes += 1));
    await blobs.init();
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const leftovers = async (): Promise<string[]> => (await readdir(dir)).filter((n) => n.startsWith('tmp-'));

  it('writes the bytes and their MD5 (hashed on a thread) whatever the pieces they came in', async () => {
    const data = randomBytes(3 * MIN_WRITE_BYTES + 12_345);
    for (const sizes of [[1], [7, 65_536, 1_048_575], [MAX_PENDING_BYTES + 1], [65_536]]) {
      if (sizes[0] === 1) {
        const small = data.subarray(0, 70_001);
        const w = await blobs.write(Readable.from(pieces(small, sizes)), undefined, limits);
        assert.equal(w.size, small.length);
        assert.equal(w.md5, md5(small));
        assert.ok((await readFile(blobs.path(w.blobId))).equals(small));
        continue;
      }
      const w = await blobs.write(Readable.from(pieces(data, sizes)), undefined, limits);
      assert.equal(w.size, data.length, `pieces of ${sizes.join(', ')}`);
      assert.equal(w.md5, md5(data), `pieces of ${sizes.join(', ')}`);
      assert.ok((await readFile(blobs.path(w.blobId))).equals(data), `pieces of ${sizes.join(', ')}`);
    }
    const empty = await blobs.write(Readable.from([]), undefined, limits);
    assert.deepEqual([empty.size, empty.md5], [0, md5(Buffer.alloc(0))]);
  });

  it('a body announced small (a multipart part) goes through the write stream: same bytes and MD5; a bad one leaves nothing', async () => {
    const before = new Set(await readdir(dir));
    const data = randomBytes(3 * MIN_WRITE_BYTES + 5);
    const small = { ...limits, sizeHint: data.length };
    const w = await blobs.write(Readable.from(pieces(data, [7, 65_536])), undefined, small);
    assert.deepEqual([w.size, w.md5], [data.length, md5(data)]);
    assert.ok((await readFile(blobs.path(w.blobId))).equals(data));
    const sha = createHash('sha256').update(Buffer.from('other')).digest('hex');
    await assert.rejects(blobs.write(Readable.from(pieces(data, [65_536])), payloadReader({ kind: 'sha256', sha256: sha }, {}), small),
      (err: unknown) => err instanceof AwsPayloadError && err.awsCode === 'XAmzContentSHA256Mismatch');
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(new Set(await readdir(dir)), new Set([...before, w.blobId]));
  });

  it('flushes to the disk beside the writes of a large blob, and the blob is whole', async () => {
    const data = randomBytes(2 * FLUSH_EVERY_BYTES + 3);
    const before = flushes;
    const w = await blobs.write(Readable.from(pieces(data, [65_536, 333_333])), undefined, limits);
    assert.ok(flushes - before >= 1, `${flushes - before} flushes beside the writes of ${data.length} bytes`);
    assert.equal(w.md5, md5(data));
    assert.ok((await readFile(blobs.path(w.blobId))).equals(data));
  });

  it('an aws-chunked body with its crc32 trailer (checked on a thread) becomes the decoded bytes', async () => {
    const data = randomBytes(2 * MIN_WRITE_BYTES + 777);
    const body = awsChunked(data, 65_536);
    const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(data.length) };
    // Pieces of 4093 bytes: size lines, CRLFs and the trailer fall across reads.
    const w = await blobs.write(Readable.from(pieces(body, [4093, 70_000])), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers), limits);
    assert.equal(w.md5, md5(data));
    assert.ok((await readFile(blobs.path(w.blobId))).equals(data));
  });

  it('a corrupted aws-chunked body (wrong crc32, bytes changed, cut short) is refused and leaves nothing', async () => {
    const before = new Set(await readdir(dir));
    const data = randomBytes(MIN_WRITE_BYTES * 2 + 5);
    const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(data.length) };
    const flipped = Buffer.from(data);
    flipped[MIN_WRITE_BYTES + 3] = (flipped[MIN_WRITE_BYTES + 3] ?? 0) ^ 0xff;
    const bodies: [string, Buffer, string][] = [
      ['wrong crc32', awsChunked(data, 65_536, Buffer.from('other')), 'BadDigest'],
      ['a byte changed in flight', awsChunked(flipped, 65_536, data), 'BadDigest'],
      ['cut short', awsChunked(data, 65_536).subarray(0, MIN_WRITE_BYTES + 100), 'IncompleteBody'],
    ];
    for (const [what, body, code] of bodies) {
      await assert.rejects(blobs.write(Readable.from(pieces(body, [65_536])), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers), limits),
        (err: unknown) => err instanceof AwsPayloadError && err.awsCode === code, what);
    }
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(new Set(await readdir(dir)), before, 'no blob was added');
  });

  it('a plain body whose signed sha256 does not match is refused and leaves nothing', async () => {
    const before = new Set(await readdir(dir));
    const data = randomBytes(MIN_WRITE_BYTES + 9);
    const sha = createHash('sha256').update(data).digest('hex');
    const ok = await blobs.write(Readable.from(pieces(data, [65_536])), payloadReader({ kind: 'sha256', sha256: sha }, { 'content-length': String(data.length) }), limits);
    assert.equal(ok.md5, md5(data));
    const bad = Buffer.from(data);
    bad[5] = (bad[5] ?? 0) ^ 1;
    await assert.rejects(blobs.write(Readable.from(pieces(bad, [65_536])), payloadReader({ kind: 'sha256', sha256: sha }, { 'content-length': String(data.length) }), limits),
      (err: unknown) => err instanceof AwsPayloadError && err.awsCode === 'XAmzContentSHA256Mismatch');
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(new Set(await readdir(dir)), new Set([...before, ok.blobId]));
  });

  it('a body over the limit, a failing stream and an abort each leave nothing', async () => {
    const before = new Set(await readdir(dir));
    const data = randomBytes(3 * MIN_WRITE_BYTES);
    await assert.rejects(blobs.write(Readable.from(pieces(data, [65_536])), undefined, { ...limits, maxBytes: 2 * MIN_WRITE_BYTES }), RangeError);
    // Through a payload check too: the refusal is the limit's own error (EntityTooLarge for S3), not the abort it causes.
    const sha = createHash('sha256').update(data).digest('hex');
    await assert.rejects(blobs.write(Readable.from(pieces(data, [65_536])), payloadReader({ kind: 'sha256', sha256: sha }, {}), { ...limits, maxBytes: 2 * MIN_WRITE_BYTES }), RangeError);
    let seen = 0;
    const failing = new Transform({
      transform(c: Buffer, _e, done) {
        seen += c.length;
        done(seen > 2 * MIN_WRITE_BYTES ? new Error('the client went away') : null, c);
      },
    });
    await assert.rejects(blobs.write(Readable.from(pieces(data, [65_536])), failing, limits), /went away/);
    // Aborted part-way (the request's signal: the client closed the connection).
    const ac = new AbortController();
    const aborting = Readable.from((async function* () {
      for (const [i, p] of pieces(data, [65_536]).entries()) {
        if (i === 20) ac.abort();
        yield p;
        await new Promise((r) => setImmediate(r));
      }
    })());
    await assert.rejects(blobs.write(aborting, undefined, { ...limits, signal: ac.signal }), { name: 'AbortError' });
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(new Set(await readdir(dir)), before);
  });

  it('remove: each blob is gone by name once it resolves (an open reader still reads it); an unknown id is fine', async () => {
    const data = randomBytes(70_001);
    const a = await blobs.write(Readable.from([data]), undefined, limits);
    const b = await blobs.write(Readable.from([data]), undefined, limits);
    const reader = await blobs.openBlob(a.blobId);
    try {
      await blobs.remove([a.blobId, b.blobId, randomUUID()]);
      const names = await readdir(dir);
      assert.ok(!names.includes(a.blobId) && !names.includes(b.blobId), `both names gone: ${names.join(', ')}`);
      const back = Buffer.alloc(data.length);
      const { bytesRead } = await reader.read(back, 0, data.length, 0);
      assert.equal(bytesRead, data.length);
      assert.ok(back.equals(data), 'a GET that opened the blob before the delete reads it whole');
    } finally {
      await reader.close();
    }
  });
});
