import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand, S3Client, UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess } from './support/daemon-process.js';

// CompleteMultipartUpload with the real controller process: the object is
// made of the parts' blobs in one store transaction, so a crash leaves either
// the upload (with every part) or the object (whole, with S3's ETag), never
// both and never half. The controller is SIGKILLed just before and just after
// that commit (failpoints s3.complete-upload.before-commit / .after-commit),
// and a failing step (error) changes nothing; after each, the blob directory
// holds exactly the blobs the store refers to (a part not chosen is swept).

let root: string;
let port: number;
let s3Port: number;
let controller: DaemonProcess | undefined;
let token: string;
let s3: S3Client;

const dataDir = (): string => join(root, 'controller');
const startController = (failpoints?: string): DaemonProcess =>
  DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--s3-listen', `127.0.0.1:${s3Port}`, '--data-dir', dataDir(), '--heartbeat-ms', '1000'],
    { NUBO_HOME: root, ...(failpoints !== undefined ? { NUBO_FAILPOINTS: failpoints } : {}) });
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();

async function restart(failpoints?: string): Promise<void> {
  controller = startController(failpoints);
  await controller.waitFor(/s3 listening/, 60_000);
}

function db<T>(fn: (d: BetterSqlite3.Database) => T): T {
  const d = new BetterSqlite3(join(dataDir(), 'nubo.db'), { readonly: true, fileMustExist: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

/** The blobs the store refers to (objects' parts included) and the files of the blob directory: equal when nothing is lost or left over. */
async function blobsAndFiles(): Promise<{ referenced: string[]; files: string[] }> {
  const referenced = db((d) => {
    const objects = d.prepare('select blob_id, parts from s3_objects').all() as { blob_id: string; parts: string | null }[];
    const parts = d.prepare('select blob_id from s3_parts').all() as { blob_id: string }[];
    return [...objects.flatMap((o) => (o.parts === null ? [o.blob_id] : (JSON.parse(o.parts) as [string, number][]).map(([id]) => id))), ...parts.map((p) => p.blob_id)];
  });
  return { referenced: referenced.sort(), files: (await readdir(join(dataDir(), 's3'))).sort() };
}

/** An upload of three parts (5 MiB, a tail, and one the completion leaves out); what completing it with the first two must make. */
async function threeParts(key: string): Promise<{ uploadId: string; chosen: CompletedPart[]; whole: Buffer; etag: string }> {
  const p1 = Buffer.alloc(5 << 20, key.length);
  p1.write(`${key} part 1`);
  const p2 = Buffer.from(`${key} part 2, the last`);
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: key }));
  const chosen: CompletedPart[] = [];
  for (const [i, body] of [p1, p2].entries()) chosen.push({ PartNumber: i + 1, ETag: (await s3.send(new UploadPartCommand({ Bucket: 'crash', Key: key, UploadId, PartNumber: i + 1, Body: body }))).ETag! });
  await s3.send(new UploadPartCommand({ Bucket: 'crash', Key: key, UploadId, PartNumber: 3, Body: 'never chosen' }));
  const etag = `"${createHash('md5').update(Buffer.concat([md5(p1), md5(p2)])).digest('hex')}-2"`;
  return { uploadId: UploadId!, chosen, whole: Buffer.concat([p1, p2]), etag };
}

const complete = (key: string, u: { uploadId: string; chosen: CompletedPart[] }) =>
  s3.send(new CompleteMultipartUploadCommand({ Bucket: 'crash', Key: key, UploadId: u.uploadId, MultipartUpload: { Parts: u.chosen } }));

async function readObject(key: string): Promise<{ body: Buffer; etag: string | undefined }> {
  const got = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: key }));
  return { body: Buffer.from(await got.Body!.transformToByteArray()), etag: got.ETag };
}

async function killedAt(point: string): Promise<void> {
  await pollUntil(`the controller killed at ${point}`, () => (controller!.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 100 });
  assert.equal(controller!.child.signalCode, 'SIGKILL', point);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-s3crash-'));
  port = await freePort();
  s3Port = await freePort();
  controller = startController();
  token = await controller.waitFor(/its token \(shown once\): (\S+)/, 60_000);
  await controller.waitFor(/s3 listening/, 60_000);
  const key = await new AccessKeyClient(`http://127.0.0.1:${port}`, token).create('me', {});
  // One attempt: a request the controller died under must fail here, not be sent again to the next controller.
  s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region: 'nubo-1', forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } });
  await s3.send(new CreateBucketCommand({ Bucket: 'crash' }));
});

after(async () => {
  s3?.destroy();
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('SIGKILL just before the commit: after the restart the upload is whole (every part listed), there is no object; the retried completion makes it', async () => {
  const u = await threeParts('before');
  await controller!.stop();
  await restart('s3.complete-upload.before-commit=exit');
  await assert.rejects(complete('before', u), 'the controller died under the completion');
  await killedAt('s3.complete-upload.before-commit');
  await restart();
  const listed = await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'before', UploadId: u.uploadId }));
  assert.deepEqual(listed.Parts?.map((p) => p.PartNumber), [1, 2, 3], 'the upload as it was');
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'before' })), (e: Error) => e.name === 'NoSuchKey');
  const left = await blobsAndFiles();
  assert.deepEqual(left.files, left.referenced, 'no blob lost, none left over');
  assert.equal(left.files.length, 3);

  const done = await complete('before', u);
  assert.equal(done.ETag, u.etag);
  const got = await readObject('before');
  assert.ok(got.body.equals(u.whole));
  assert.equal(got.etag, u.etag);
  const now = await blobsAndFiles();
  assert.deepEqual(now.files, now.referenced);
  assert.equal(now.files.length, 2, 'the object is its two chosen parts; the third went');
});

test('SIGKILL just after the commit: after the restart the object is whole with S3\'s ETag, the upload is gone, the part not chosen is swept', async () => {
  const before0 = await blobsAndFiles();
  const u = await threeParts('after');
  await controller!.stop();
  await restart('s3.complete-upload.after-commit=exit');
  await assert.rejects(complete('after', u), 'the controller died under the completion');
  await killedAt('s3.complete-upload.after-commit');
  const dead = await blobsAndFiles();
  assert.equal(dead.files.length, dead.referenced.length + 1, 'the part not chosen is still a file, referenced by nothing');
  await restart();
  await assert.rejects(s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'after', UploadId: u.uploadId })), (e: Error) => e.name === 'NoSuchUpload');
  const got = await readObject('after');
  assert.ok(got.body.equals(u.whole));
  assert.equal(got.etag, u.etag);
  const now = await blobsAndFiles();
  assert.deepEqual(now.files, now.referenced, 'the sweep removed the part not chosen, and nothing else');
  assert.equal(now.files.length, before0.files.length + 2);
  // Completing it again: the upload is gone.
  await assert.rejects(complete('after', u), (e: Error) => e.name === 'NoSuchUpload');
});

test('a failing step before the commit (error) refuses the completion with InternalError and changes nothing; the retry works', async () => {
  const u = await threeParts('fails');
  await controller!.stop();
  await restart('s3.complete-upload.before-commit=error');
  const before0 = await blobsAndFiles();
  await assert.rejects(complete('fails', u), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.name === 'InternalError' && e.$metadata?.httpStatusCode === 500);
  assert.deepEqual(await blobsAndFiles(), before0);
  assert.deepEqual((await s3.send(new ListPartsCommand({ Bucket: 'crash', Key: 'fails', UploadId: u.uploadId }))).Parts?.map((p) => p.PartNumber), [1, 2, 3]);
  assert.equal((await complete('fails', u)).ETag, u.etag);
  assert.ok((await readObject('fails')).body.equals(u.whole));
});
