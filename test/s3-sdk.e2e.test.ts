import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand,
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListMultipartUploadsCommand,
  ListObjectVersionsCommand, ListObjectsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, S3Client, S3ServiceException, UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash } from 'node:crypto';
import { ControllerDaemon } from '../src/controller/controller-daemon.js';
import { s3StoreSnapshot } from './support/s3-store-snapshot.js';

// The S3 listener driven by the real AWS SDK for JavaScript v3 (its default
// checksums and aws-chunked uploads included): every operation nubo serves,
// ownership between two users, keys that look like paths, and SigV4 refusals
// that change nothing.

let root: string;
let controller: ControllerDaemon;
let alice: S3Client;
let bob: S3Client;
let aliceKey: { id: string; secret: string };

const client = (id: string, secret: string): S3Client =>
  new S3Client({ endpoint: controller.s3!.url, region: 'nubo-1', forcePathStyle: true, credentials: { accessKeyId: id, secretAccessKey: secret } });

async function s3Fails(p: Promise<unknown>, code: string, status?: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, code, e.message);
    if (status !== undefined) assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

const text = async (body: { transformToString(): Promise<string> } | undefined): Promise<string> => (body ? body.transformToString() : '');
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');
const snapshot = (): Promise<string> => s3StoreSnapshot(controller.store, join(root, 'controller', 's3'));
const blobFiles = async (): Promise<string[]> => (await readdir(join(root, 'controller', 's3'))).sort();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-s3sdk-'));
  controller = await ControllerDaemon.start({ dataDir: join(root, 'controller'), listen: { host: '127.0.0.1', port: 0 }, s3: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
  await controller.bootstrapAdmin();
  const a = (await controller.store.users.create({ name: 'alice' })).user;
  const b = (await controller.store.users.create({ name: 'bob' })).user;
  const ak = await controller.accessKeys.create(a.id);
  const bk = await controller.accessKeys.create(b.id);
  aliceKey = { id: ak.key.id, secret: ak.secretAccessKey };
  alice = client(ak.key.id, ak.secretAccessKey);
  bob = client(bk.key.id, bk.secretAccessKey);
});

after(async () => {
  alice?.destroy();
  bob?.destroy();
  await controller?.stop();
  await rm(root, { recursive: true, force: true });
});

test('buckets: create, head, list (the owner\'s only), another user\'s is AccessDenied, delete when empty', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-b1' }));
  await alice.send(new HeadBucketCommand({ Bucket: 'alice-b1' }));
  assert.deepEqual((await alice.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['alice-b1']);
  assert.deepEqual((await bob.send(new ListBucketsCommand({}))).Buckets ?? [], []);
  const before = await snapshot();
  await s3Fails(bob.send(new PutObjectCommand({ Bucket: 'alice-b1', Key: 'x', Body: 'bob was here' })), 'AccessDenied', 403);
  await s3Fails(bob.send(new GetObjectCommand({ Bucket: 'alice-b1', Key: 'x' })), 'AccessDenied', 403);
  await s3Fails(bob.send(new ListObjectsV2Command({ Bucket: 'alice-b1' })), 'AccessDenied', 403);
  await s3Fails(bob.send(new DeleteBucketCommand({ Bucket: 'alice-b1' })), 'AccessDenied', 403);
  await s3Fails(bob.send(new CreateBucketCommand({ Bucket: 'alice-b1' })), 'BucketAlreadyExists', 409);
  await s3Fails(alice.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })), 'InvalidBucketName', 400);
  assert.equal(await snapshot(), before, 'refusals changed nothing');
  await alice.send(new PutObjectCommand({ Bucket: 'alice-b1', Key: 'k', Body: 'v' }));
  await s3Fails(alice.send(new DeleteBucketCommand({ Bucket: 'alice-b1' })), 'BucketNotEmpty', 409);
  await alice.send(new DeleteObjectCommand({ Bucket: 'alice-b1', Key: 'k' }));
  await alice.send(new DeleteBucketCommand({ Bucket: 'alice-b1' }));
  await s3Fails(alice.send(new HeadBucketCommand({ Bucket: 'alice-b1' })), 'NotFound', 404);
});

test('objects: put (SDK default: aws-chunked + crc32 trailer), get, head with metadata, range, copy, delete, multi-delete', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'objs' }));
  const body = 'hello, nubo s3 — ünïcode';
  const put = await alice.send(new PutObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt', Body: body, ContentType: 'text/plain', Metadata: { colour: 'blue' } }));
  assert.equal(put.ETag, `"${md5(body)}"`);
  const got = await alice.send(new GetObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt' }));
  assert.equal(await text(got.Body), body);
  assert.equal(got.ContentType, 'text/plain');
  assert.deepEqual(got.Metadata, { colour: 'blue' });
  const head = await alice.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt' }));
  assert.equal(head.ContentLength, Buffer.byteLength(body));
  const range = await alice.send(new GetObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt', Range: 'bytes=7-10' }));
  assert.equal(await text(range.Body), 'nubo');
  assert.equal(range.ContentRange, `bytes 7-10/${Buffer.byteLength(body)}`);
  assert.equal(await text((await alice.send(new GetObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt', Range: 'bytes=-3' }))).Body), Buffer.from(body).subarray(-3).toString());
  await s3Fails(alice.send(new GetObjectCommand({ Bucket: 'objs', Key: 'dir/a.txt', Range: 'bytes=9999-' })), 'InvalidRange', 416);
  const copy = await alice.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'dir/b.txt', CopySource: 'objs/dir/a.txt' }));
  assert.equal(copy.CopyObjectResult?.ETag, `"${md5(body)}"`);
  assert.deepEqual((await alice.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'dir/b.txt' }))).Metadata, { colour: 'blue' });
  await s3Fails(alice.send(new GetObjectCommand({ Bucket: 'objs', Key: 'nope' })), 'NoSuchKey', 404);
  const del = await alice.send(new DeleteObjectsCommand({ Bucket: 'objs', Delete: { Objects: [{ Key: 'dir/a.txt' }, { Key: 'dir/b.txt' }, { Key: 'never' }] } }));
  assert.deepEqual(del.Deleted?.map((d) => d.Key).sort(), ['dir/a.txt', 'dir/b.txt', 'never']);
  assert.equal((await alice.send(new ListObjectsV2Command({ Bucket: 'objs' }))).KeyCount, 0);
  assert.deepEqual(await readdir(join(root, 'controller', 's3')), [], 'no blob is left of deleted objects');
});

test('listings: V2 with prefix, delimiter, max-keys and continuation; V1 with marker; versions answer null', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'lists' }));
  const keys = ['a/1', 'a/2', 'a/sub/3', 'b/1', 'c', 'd/x/y'];
  for (const k of keys) await alice.send(new PutObjectCommand({ Bucket: 'lists', Key: k, Body: k }));
  const top = await alice.send(new ListObjectsV2Command({ Bucket: 'lists', Delimiter: '/' }));
  assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'b/', 'd/']);
  assert.deepEqual(top.Contents?.map((c) => c.Key), ['c']);
  const inA = await alice.send(new ListObjectsV2Command({ Bucket: 'lists', Prefix: 'a/', Delimiter: '/' }));
  assert.deepEqual([inA.Contents?.map((c) => c.Key), inA.CommonPrefixes?.map((p) => p.Prefix)], [['a/1', 'a/2'], ['a/sub/']]);
  const seen: string[] = [];
  let token: string | undefined;
  do {
    const page = await alice.send(new ListObjectsV2Command({ Bucket: 'lists', MaxKeys: 2, ...(token ? { ContinuationToken: token } : {}) }));
    seen.push(...(page.Contents ?? []).map((c) => c.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  assert.deepEqual(seen, keys);
  const v1 = await alice.send(new ListObjectsCommand({ Bucket: 'lists', Marker: 'b/1' }));
  assert.deepEqual(v1.Contents?.map((c) => c.Key), ['c', 'd/x/y']);
  const versions = await alice.send(new ListObjectVersionsCommand({ Bucket: 'lists', Prefix: 'a/' }));
  assert.deepEqual(versions.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest]), [['a/1', 'null', true], ['a/2', 'null', true], ['a/sub/3', 'null', true]]);
});

test('multipart: parts, list, copy a part, complete with S3\'s ETag; abort removes the parts', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'mpu' }));
  const p1 = Buffer.alloc(5 << 20, 1);
  const p2 = Buffer.concat([Buffer.alloc(5 << 20, 2), Buffer.from('tail of the object')]);
  await alice.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'src', Body: 'COPIED-PART' }));
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', ContentType: 'application/x-qemu-disk' }));
  const e1 = (await alice.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 1, Body: p1 }))).ETag!;
  const e2 = (await alice.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 2, Body: p2 }))).ETag!;
  const e3 = (await alice.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 3, CopySource: 'mpu/src', CopySourceRange: 'bytes=0-5' }))).CopyPartResult!.ETag!;
  assert.deepEqual((await alice.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'big', UploadId }))).Parts?.map((p) => [p.PartNumber, p.Size]), [[1, p1.length], [2, p2.length], [3, 6]]);
  assert.deepEqual((await alice.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }))).Uploads?.map((u) => u.UploadId), [UploadId]);
  await s3Fails(alice.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: e2 }, { PartNumber: 1, ETag: e1 }] } })), 'InvalidPartOrder', 400);
  const e4 = (await alice.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'big', UploadId, PartNumber: 4, Body: 'unused' }))).ETag!;
  await s3Fails(alice.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 3, ETag: e3 }, { PartNumber: 4, ETag: e4 }] } })), 'EntityTooSmall', 400);
  await s3Fails(alice.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e2 }] } })), 'InvalidPart', 400);
  const done = await alice.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'big', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }] } }));
  const expected = `"${createHash('md5').update(Buffer.concat([p1, p2, Buffer.from('COPIED')].map((b) => createHash('md5').update(b).digest()))).digest('hex')}-3"`;
  assert.equal(done.ETag, expected);
  const whole = Buffer.from(await (await alice.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big' }))).Body!.transformToByteArray());
  assert.ok(whole.equals(Buffer.concat([p1, p2, Buffer.from('COPIED')])));
  const second = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone' }));
  await alice.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'gone', UploadId: second.UploadId, PartNumber: 1, Body: 'x' }));
  await alice.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'gone', UploadId: second.UploadId }));
  await s3Fails(alice.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'gone', UploadId: second.UploadId })), 'NoSuchUpload', 404);
  assert.deepEqual(await blobFiles(), [...await controller.store.s3.referencedBlobs()].sort(), 'a file for each blob an object or part holds (the completed object\'s are its three parts; part 4, not chosen, is gone); nothing else');
  assert.equal((await controller.store.s3.getObject('mpu', 'big'))?.blobs.length, 3, 'completion copied nothing: the object is its parts');
});

test('a multipart object read across its parts: Range over part boundaries, HEAD, CopyObject (a copy of its own, same ETag), UploadPartCopy from it', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'parts' }));
  const p1 = Buffer.alloc(5 << 20, 7);
  p1.write('end-of-part-1', p1.length - 13);
  const p2 = Buffer.alloc(5 << 20, 8);
  p2.write('start-of-part-2');
  const p3 = Buffer.from('the last part');
  const whole = Buffer.concat([p1, p2, p3]);
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'parts', Key: 'm', ContentType: 'text/x-parts' }));
  const parts: { PartNumber: number; ETag: string }[] = [];
  for (const [i, body] of [p1, p2, p3].entries()) parts.push({ PartNumber: i + 1, ETag: (await alice.send(new UploadPartCommand({ Bucket: 'parts', Key: 'm', UploadId, PartNumber: i + 1, Body: body }))).ETag! });
  const done = await alice.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'm', UploadId, MultipartUpload: { Parts: parts } }));
  const range = async (key: string, r: string): Promise<{ body: Buffer; contentRange: string | undefined }> => {
    const got = await alice.send(new GetObjectCommand({ Bucket: 'parts', Key: key, Range: r }));
    return { body: Buffer.from(await got.Body!.transformToByteArray()), contentRange: got.ContentRange };
  };
  const b1 = p1.length;
  const b2 = b1 + p2.length;
  for (const [s, e] of [[b1 - 13, b1 + 14], [b1 - 1, b1], [b1, b1], [b2 - 2, b2 + 3], [b1 - 5, b2 + 4], [0, whole.length - 1], [10, 20]] as const) {
    const r = await range('m', `bytes=${s}-${e}`);
    assert.ok(r.body.equals(whole.subarray(s, e + 1)), `bytes ${s}-${e}`);
    assert.equal(r.contentRange, `bytes ${s}-${e}/${whole.length}`);
  }
  assert.equal((await range('m', 'bytes=-20')).body.toString(), whole.subarray(-20).toString(), 'a suffix range in the last part');
  const head = await alice.send(new HeadObjectCommand({ Bucket: 'parts', Key: 'm' }));
  assert.deepEqual([head.ContentLength, head.ETag, head.ContentType], [whole.length, done.ETag, 'text/x-parts']);

  const copied = await alice.send(new CopyObjectCommand({ Bucket: 'parts', Key: 'copy', CopySource: 'parts/m' }));
  assert.equal(copied.CopyObjectResult?.ETag, done.ETag, 'the copy keeps the multipart ETag');
  const srcBlobs = (await controller.store.s3.getObject('parts', 'm'))!.blobs.map((b) => b.blobId);
  const copyBlobs = (await controller.store.s3.getObject('parts', 'copy'))!.blobs;
  assert.deepEqual(copyBlobs.map((b) => b.size), [p1.length, p2.length, p3.length]);
  assert.ok(copyBlobs.every((b) => !srcBlobs.includes(b.blobId)), 'blobs of its own');

  const u2 = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'parts', Key: 'from-parts' }));
  const c1 = await alice.send(new UploadPartCopyCommand({ Bucket: 'parts', Key: 'from-parts', UploadId: u2.UploadId, PartNumber: 1, CopySource: 'parts/m', CopySourceRange: `bytes=${b1 - 100}-${b2 + 4}` }));
  const c2 = await alice.send(new UploadPartCopyCommand({ Bucket: 'parts', Key: 'from-parts', UploadId: u2.UploadId, PartNumber: 2, CopySource: 'parts/m' }));
  assert.equal(c1.CopyPartResult?.ETag, `"${md5(whole.subarray(b1 - 100, b2 + 5))}"`, 'a part copied across the source\'s boundaries has the MD5 of those bytes');
  assert.equal(c2.CopyPartResult?.ETag, `"${md5(whole)}"`);
  await alice.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'from-parts', UploadId: u2.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult?.ETag }, { PartNumber: 2, ETag: c2.CopyPartResult?.ETag }] } }));

  // The source gone, the copy and the object made from it read whole.
  await alice.send(new DeleteObjectCommand({ Bucket: 'parts', Key: 'm' }));
  assert.ok((await range('copy', `bytes=0-${whole.length - 1}`)).body.equals(whole));
  const made = Buffer.from(await (await alice.send(new GetObjectCommand({ Bucket: 'parts', Key: 'from-parts' }))).Body!.transformToByteArray());
  assert.ok(made.equals(Buffer.concat([whole.subarray(b1 - 100, b2 + 5), whole])));
  for (const key of ['copy', 'from-parts']) await alice.send(new DeleteObjectCommand({ Bucket: 'parts', Key: key }));
  assert.deepEqual(await blobFiles(), [...await controller.store.s3.referencedBlobs()].sort(), 'deleting a multipart object removes every one of its blobs');
  await alice.send(new DeleteBucketCommand({ Bucket: 'parts' }));
});

test('presigned GET and PUT work until X-Amz-Expires; an expired or tampered URL is refused and changes nothing', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'pre' }));
  const putUrl = await getSignedUrl(alice, new PutObjectCommand({ Bucket: 'pre', Key: 'up.bin' }), { expiresIn: 60 });
  assert.equal((await fetch(putUrl, { method: 'PUT', body: 'via presigned PUT', signal: AbortSignal.timeout(10_000) })).status, 200);
  const getUrl = await getSignedUrl(alice, new GetObjectCommand({ Bucket: 'pre', Key: 'up.bin' }), { expiresIn: 60 });
  assert.equal(await (await fetch(getUrl, { signal: AbortSignal.timeout(10_000) })).text(), 'via presigned PUT');
  const before = await snapshot();
  const expired = await getSignedUrl(alice, new PutObjectCommand({ Bucket: 'pre', Key: 'late.bin' }), { expiresIn: 1, signingDate: new Date(Date.now() - 60_000) });
  const r = await fetch(expired, { method: 'PUT', body: 'too late', signal: AbortSignal.timeout(10_000) });
  assert.equal(r.status, 403);
  assert.match(await r.text(), /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  const tampered = putUrl.replace('up.bin', 'other.bin');
  assert.equal((await fetch(tampered, { method: 'PUT', body: 'x', signal: AbortSignal.timeout(10_000) })).status, 403);
  assert.equal(await snapshot(), before);
});

test('SigV4 refusals from the real SDK: wrong secret, unknown key, revoked key, skewed clock, wrong region — nothing changes', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'auth' }));
  const before = await snapshot();
  const wrong = client(aliceKey.id, 'x'.repeat(40));
  await s3Fails(wrong.send(new PutObjectCommand({ Bucket: 'auth', Key: 'k', Body: 'v' })), 'SignatureDoesNotMatch', 403);
  await s3Fails(client('AKIAAAAAAAAAAAAAAAAA', 'x'.repeat(40)).send(new PutObjectCommand({ Bucket: 'auth', Key: 'k', Body: 'v' })), 'InvalidAccessKeyId', 403);
  const skewed = new S3Client({ endpoint: controller.s3!.url, region: 'nubo-1', forcePathStyle: true, credentials: { accessKeyId: aliceKey.id, secretAccessKey: aliceKey.secret }, systemClockOffset: 20 * 60_000, maxAttempts: 1 });
  await s3Fails(skewed.send(new PutObjectCommand({ Bucket: 'auth', Key: 'k', Body: 'v' })), 'RequestTimeTooSkewed', 403);
  const otherRegion = new S3Client({ endpoint: controller.s3!.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: aliceKey.id, secretAccessKey: aliceKey.secret } });
  await s3Fails(otherRegion.send(new PutObjectCommand({ Bucket: 'auth', Key: 'k', Body: 'v' })), 'AuthorizationHeaderMalformed', 400);
  const temp = await controller.accessKeys.create((await controller.store.users.findByName('alice'))!.id);
  const tempClient = client(temp.key.id, temp.secretAccessKey);
  await tempClient.send(new HeadBucketCommand({ Bucket: 'auth' }));
  await controller.accessKeys.delete(temp.key.userId, temp.key.id);
  await s3Fails(tempClient.send(new PutObjectCommand({ Bucket: 'auth', Key: 'k', Body: 'v' })), 'InvalidAccessKeyId', 403);
  assert.equal(await snapshot(), before);
  for (const c of [wrong, skewed, otherRegion, tempClient]) c.destroy();
});

test('keys that look like paths are opaque: ../x, /abs and a/../../b are stored and read back, nothing is written outside; NUL is refused', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'paths' }));
  const s3dir = join(root, 'controller', 's3');
  const outside = (await readdir(root)).sort();
  for (const key of ['../x', '/abs', 'a/../../b', '..', './.']) {
    await alice.send(new PutObjectCommand({ Bucket: 'paths', Key: key, Body: `value of ${key}` }));
    assert.equal(await text((await alice.send(new GetObjectCommand({ Bucket: 'paths', Key: key }))).Body), `value of ${key}`);
  }
  assert.deepEqual((await readdir(root)).sort(), outside, 'nothing appeared beside the data directory');
  assert.ok((await readdir(s3dir)).every((f) => /^[0-9a-f-]{36}$/.test(f)), 'blobs are named by id only');
  const before = await snapshot();
  await s3Fails(alice.send(new PutObjectCommand({ Bucket: 'paths', Key: 'nul\u0000key', Body: 'x' })), 'InvalidArgument', 400);
  assert.equal(await snapshot(), before);
});
