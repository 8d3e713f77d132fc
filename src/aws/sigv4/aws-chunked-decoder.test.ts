import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { AwsPayloadError } from './aws-payload-error.js';
import { payloadReader } from './payload-reader.js';
import { verifySigV4, type SigV4Request } from './verify-sigv4.js';

/**
 * AWS's own worked example of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload
 * (S3 documentation, "Signature calculations for the Authorization header:
 * transferring payload in multiple chunks"): 66560 bytes of 'a' in chunks of
 * 64 KiB, 1 KiB and the final empty one, with the signatures AWS published.
 */
const EXAMPLE = {
  secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  request: {
    method: 'PUT',
    url: '/examplebucket/chunkObject.txt',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
    },
  } satisfies SigV4Request,
  chunks: [
    [65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'],
    [1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497'],
    [0, 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'],
  ] as const,
};

const exampleBody = (tamper?: (i: number, data: Buffer) => Buffer): Buffer =>
  Buffer.concat(EXAMPLE.chunks.flatMap(([n, sig], i) => {
    const data = tamper ? tamper(i, Buffer.alloc(n, 'a')) : Buffer.alloc(n, 'a');
    return [Buffer.from(`${n.toString(16)};chunk-signature=${sig}\r\n`), data, Buffer.from('\r\n')];
  }));

async function verifiedExample(): Promise<Awaited<ReturnType<typeof verifySigV4>>> {
  return verifySigV4(EXAMPLE.request, {
    region: 'us-east-1', service: 's3', now: new Date('2013-05-24T00:05:00Z'),
    lookupSecret: async (id) => (id === 'AKIAIOSFODNN7EXAMPLE' ? { secret: EXAMPLE.secret, userId: 'u' } : undefined),
  });
}

/** The decoded bytes, fed in pieces of `piece` bytes so that lines and CRLFs fall across reads. */
async function decode(body: Buffer, reader: Transform, piece = 7): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += piece) pieces.push(body.subarray(i, i + piece));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), reader, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

async function failure(p: Promise<unknown>): Promise<AwsPayloadError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof AwsPayloadError, `expected AwsPayloadError, got ${String(err)}`);
  return err;
}

test('AWS\'s published chunked-upload example verifies: seed signature, every chunk signature, decoded length', async () => {
  const v = await verifiedExample();
  assert.equal(v.payload.kind, 'streaming-signed');
  for (const piece of [7, 4096, 1 << 20]) {
    const data = await decode(exampleBody(), payloadReader(v.payload, EXAMPLE.request.headers), piece);
    assert.equal(data.length, 66560);
    assert.ok(data.every((b) => b === 0x61));
  }
});

test('a chunk whose data was changed fails its chunk signature', async () => {
  const v = await verifiedExample();
  const body = exampleBody((i, d) => (i === 1 ? Buffer.concat([d.subarray(0, 1023), Buffer.from('b')]) : d));
  const e = await failure(decode(body, payloadReader(v.payload, EXAMPLE.request.headers)));
  assert.equal(e.awsCode, 'SignatureDoesNotMatch');
});

test('a chunked body cut short is IncompleteBody', async () => {
  const v = await verifiedExample();
  const body = exampleBody();
  const e = await failure(decode(body.subarray(0, 66_000), payloadReader(v.payload, EXAMPLE.request.headers)));
  assert.equal(e.awsCode, 'IncompleteBody');
});

/** The AWS SDK's default upload: unsigned chunks, then the checksum as a trailer. */
function unsignedTrailerBody(data: Buffer, checksum: string): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`)]);
}

const crc = (d: Buffer): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(d));
  return b.toString('base64');
};

test('STREAMING-UNSIGNED-PAYLOAD-TRAILER: the crc32 trailer is checked against the data', async () => {
  const data = Buffer.from('the quick brown fox');
  const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(data.length) };
  const ok = await decode(unsignedTrailerBody(data, crc(data)), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers));
  assert.deepEqual(ok, data);
  const e = await failure(decode(unsignedTrailerBody(data, crc(Buffer.from('other'))), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers)));
  assert.equal(e.awsCode, 'BadDigest');
  const short = await failure(decode(unsignedTrailerBody(data, crc(data)), payloadReader({ kind: 'streaming-unsigned-trailer' }, { ...headers, 'x-amz-decoded-content-length': '5' })));
  assert.equal(short.awsCode, 'IncompleteBody');
});

test('a plain body must hash to its signed sha256, and match an x-amz-checksum header', async () => {
  const data = Buffer.from('payload');
  const { createHash } = await import('node:crypto');
  const sha = createHash('sha256').update(data).digest('hex');
  assert.deepEqual(await decode(data, payloadReader({ kind: 'sha256', sha256: sha }, {})), data);
  const e = await failure(decode(Buffer.from('payloaD'), payloadReader({ kind: 'sha256', sha256: sha }, {})));
  assert.equal(e.awsCode, 'XAmzContentSHA256Mismatch');
  const bad = await failure(decode(data, payloadReader({ kind: 'unsigned' }, { 'x-amz-checksum-crc32': crc(Buffer.from('x')) })));
  assert.equal(bad.awsCode, 'BadDigest');
  assert.throws(() => payloadReader({ kind: 'unsigned' }, { 'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA=' }), (err: unknown) => err instanceof AwsPayloadError && err.awsCode === 'InvalidRequest');
});

test('a large aws-chunked body\'s checksum is worked out on a thread with the same verdicts: whole, wrong, a byte changed', async () => {
  const data = Buffer.alloc(3 * 1024 * 1024 + 11, 7);
  data.write('somewhere in the middle', 1_500_000);
  const headers = { 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': String(data.length) };
  // x-amz-decoded-content-length of 3 MiB: over ON_THREAD_FROM_BYTES, so the crc32 runs on the hash pool.
  const framed = (d: Buffer, sum: string): Buffer => Buffer.concat([Buffer.from(`${d.length.toString(16)}\r\n`), d, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${sum}\r\n\r\n`)]);
  for (const piece of [4093, 65_536]) {
    assert.deepEqual(await decode(framed(data, crc(data)), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers), piece), data);
  }
  const wrong = await failure(decode(framed(data, crc(Buffer.from('other'))), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers), 65_536));
  assert.equal(wrong.awsCode, 'BadDigest');
  const changed = Buffer.from(data);
  changed[2_000_000] = 1;
  const flipped = await failure(decode(framed(changed, crc(data)), payloadReader({ kind: 'streaming-unsigned-trailer' }, headers), 65_536));
  assert.equal(flipped.awsCode, 'BadDigest');
  // A plain body with an x-amz-checksum-sha256 header and a signed sha256 (hashed in place: the same verdicts).
  const { createHash } = await import('node:crypto');
  const sha = createHash('sha256').update(data).digest();
  const plain = { 'content-length': String(data.length), 'x-amz-checksum-sha256': sha.toString('base64') };
  assert.deepEqual(await decode(data, payloadReader({ kind: 'sha256', sha256: sha.toString('hex') }, plain), 65_536), data);
  const bad = await failure(decode(changed, payloadReader({ kind: 'unsigned' }, plain), 65_536));
  assert.equal(bad.awsCode, 'BadDigest');
});
