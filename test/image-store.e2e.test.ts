import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AccessKeyClient } from '../src/client/access-key-client.js';
import { NuboClient } from '../src/client/nubo-client.js';
import { TenancyClient } from '../src/client/tenancy-client.js';
import { IMAGE_BUCKET } from '../src/controller/image-objects.js';
import { freePort } from '../src/util/free-port.js';
import { pollUntil } from '../src/util/deadline.js';
import { DaemonProcess } from './support/daemon-process.js';

// One image store, with the real processes: `nubo controller --s3-listen`.
// An image uploaded through the native API is an object of the system bucket
// (the admin reads it through S3 with its size and ETag; a user neither sees
// nor reads nor writes it; the data route hands out a presigned GET of it).
// The controller SIGKILLed in an upload — after the object row and before the
// image row (failpoint image-object.before-image), and mid-stream — leaves no
// image, and after the restart no object, blob or temporary file; the retry
// works. A data directory from before (an image whose bytes are a file of the
// image store) is moved into an object at start, also across a SIGKILL at
// each step of the move. An image registered from a user's multipart object
// (kept as its parts) is one file of its own, served whole.

const execFileP = promisify(execFile);
let root: string;
let port: number;
let s3Port: number;
let controller: DaemonProcess | undefined;
let token: string;
let api: NuboClient;
let disk: string;

const dataDir = (): string => join(root, 'controller');
const startController = (failpoints?: string): DaemonProcess =>
  DaemonProcess.start(['controller', '--listen', `127.0.0.1:${port}`, '--s3-listen', `127.0.0.1:${s3Port}`, '--data-dir', dataDir(), '--heartbeat-ms', '1000'],
    { NUBO_HOME: root, ...(failpoints !== undefined ? { NUBO_FAILPOINTS: failpoints } : {}) });
const md5 = async (path: string): Promise<string> => createHash('md5').update(await readFile(path)).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function db<T>(fn: (d: BetterSqlite3.Database) => T, readonly = true): T {
  const d = new BetterSqlite3(join(dataDir(), 'nubo.db'), { readonly, fileMustExist: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}
/** What an interrupted upload could leave: the system bucket's rows, the blobs, the image store's files (temporary ones included), the image rows. */
async function state(): Promise<{ objects: string[]; blobs: string[]; files: string[]; images: string[] }> {
  return {
    objects: db((d) => (d.prepare('select key from s3_objects where bucket = ? order by key').all(IMAGE_BUCKET) as { key: string }[]).map((r) => r.key)),
    blobs: (await readdir(join(dataDir(), 's3'))).sort(),
    files: (await readdir(join(dataDir(), 'images')).catch(() => [])).sort(),
    images: db((d) => (d.prepare('select name from images order by name').all() as { name: string }[]).map((r) => r.name)),
  };
}

async function restart(failpoints?: string): Promise<void> {
  controller = startController(failpoints);
  await controller.waitFor(/controller listening/, 60_000);
}

async function waitKilled(what: string): Promise<void> {
  await pollUntil(what, () => (controller!.alive ? undefined : true), { timeoutMs: 60_000, intervalMs: 100 });
  assert.equal(controller!.child.signalCode, 'SIGKILL', what);
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'nubo-imgstore-'));
  port = await freePort();
  s3Port = await freePort();
  controller = startController();
  token = await controller.waitFor(/its token \(shown once\): (\S+)/, 60_000);
  await controller.waitFor(/s3 listening/, 60_000);
  api = new NuboClient(`http://127.0.0.1:${port}`, token);
  disk = join(root, 'disk.qcow2');
  await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  await execFileP('qemu-io', ['-c', 'write -P 0x5a 1M 256k', disk]);
});

after(async () => {
  await controller?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

test('an uploaded image is an object of the system bucket: the admin reads it through S3 (size, ETag), users cannot see, read or write it, the data route presigns it', async () => {
  const img = await api.uploadImage({ name: 'up', file: disk });
  const row = db((d) => d.prepare('select path from images where id = ?').get(img.id) as { path: string });
  assert.equal(dirname(row.path), join(dataDir(), 's3'), 'the bytes are a blob of the object store');
  const key = `images/${basename(row.path)}`;
  const bytes = await readFile(disk);

  const adminKey = await new AccessKeyClient(api.baseUrl, token).create('me', {});
  const bob = await new TenancyClient(api.baseUrl, token).createUser({ name: 'bob' });
  const bobKey = await new AccessKeyClient(api.baseUrl, bob.token).create('me', {});
  const client = (k: { accessKeyId: string; secretAccessKey: string }): S3Client => new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region: 'nubo-1', forcePathStyle: true, credentials: { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey } });
  const admin = client(adminKey);
  const user = client(bobKey);
  try {
    const listed = await admin.send(new ListObjectsV2Command({ Bucket: IMAGE_BUCKET }));
    assert.deepEqual(listed.Contents?.map((o) => [o.Key, o.Size, o.ETag]), [[key, bytes.length, `"${await md5(disk)}"`]]);
    const head = await admin.send(new HeadObjectCommand({ Bucket: IMAGE_BUCKET, Key: key }));
    assert.equal(head.ContentLength, bytes.length);
    const got = Buffer.from(await (await admin.send(new GetObjectCommand({ Bucket: IMAGE_BUCKET, Key: key }))).Body!.transformToByteArray());
    assert.equal(sha256(got), img.sha256);
    // Read-only, even for the admin: only the controller writes image objects.
    await assert.rejects(admin.send(new PutObjectCommand({ Bucket: IMAGE_BUCKET, Key: 'images/x', Body: 'x' })), (e: Error) => e.name === 'AccessDenied');
    await assert.rejects(admin.send(new DeleteObjectCommand({ Bucket: IMAGE_BUCKET, Key: key })), (e: Error) => e.name === 'AccessDenied');
    // Neither one's own bucket list shows it.
    assert.deepEqual((await admin.send(new ListBucketsCommand({}))).Buckets ?? [], []);
    assert.deepEqual((await user.send(new ListBucketsCommand({}))).Buckets ?? [], []);
    for (const call of [
      () => user.send(new ListObjectsV2Command({ Bucket: IMAGE_BUCKET })),
      () => user.send(new GetObjectCommand({ Bucket: IMAGE_BUCKET, Key: key })),
      () => user.send(new PutObjectCommand({ Bucket: IMAGE_BUCKET, Key: 'images/evil', Body: 'evil' })),
      () => user.send(new DeleteObjectCommand({ Bucket: IMAGE_BUCKET, Key: key })),
    ]) await assert.rejects(call(), (e: Error) => e.name === 'AccessDenied');
    assert.deepEqual((await state()).objects, [key], 'nothing a refusal changed');
  } finally {
    admin.destroy();
    user.destroy();
  }

  // The data route: a presigned GET of the object on the S3 listener, which serves the image's bytes.
  const res = await fetch(`${api.baseUrl}/api/v1/images/${img.id}/data`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
  assert.equal(res.status, 307);
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(`http://127.0.0.1:${s3Port}/${IMAGE_BUCKET}/${key}?`), location);
  assert.equal(sha256(Buffer.from(await (await fetch(location)).arrayBuffer())), img.sha256);
  await controller!.waitFor(new RegExp(`"key":"${key}","status":200[^\\n]*image object read`), 10_000);

  // Deleting the image deletes its object and bytes.
  await api.deleteImage(img.id);
  const after = await state();
  assert.deepEqual([after.objects, after.blobs.includes(basename(row.path))], [[], false]);
});

test('controller SIGKILLed after an upload\'s object row and before its image row: no image; the restart sweeps object and blob; the retry works', async () => {
  const before0 = await state();
  await controller!.stop();
  await restart('image-object.before-image=exit');
  await assert.rejects(api.uploadImage({ name: 'crash1', file: disk }), 'the controller died under the upload');
  await waitKilled('the controller killed at image-object.before-image');
  const left = await state();
  assert.equal(left.objects.length, before0.objects.length + 1, 'the object row (the decision) was written');
  assert.equal(left.blobs.length, before0.blobs.length + 1, 'and its blob');
  assert.deepEqual(left.images, before0.images, 'but no image');

  await restart();
  await pollUntil('the sweep removed the object and its blob', async () => (JSON.stringify(await state()) === JSON.stringify(before0) ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 }).catch(() => undefined);
  assert.deepEqual(await state(), before0, 'no half image, no orphan object, blob or temporary file');
  const img = await api.uploadImage({ name: 'crash1', file: disk });
  assert.equal(img.sizeBytes, (await stat(disk)).size);
  const now = await state();
  assert.equal(now.objects.length, before0.objects.length + 1);
  assert.ok(now.images.includes('crash1'));
  await api.deleteImage(img.id);
});

test('controller SIGKILLed mid-stream of an upload: no image; the restart removes the partial file; the retry works', async () => {
  const before0 = await state();
  const bytes = await readFile(disk);
  const half = bytes.subarray(0, Math.floor(bytes.length / 2));
  const url = new URL(`${api.baseUrl}/api/v1/images/upload?name=crash2`);
  const req = request({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': bytes.length } });
  const answered = new Promise<void>((resolve) => {
    req.on('error', () => resolve());
    req.on('response', (r) => {
      r.resume();
      r.on('end', resolve);
    });
  });
  req.write(half);
  // The half is on the controller's disk, in a temporary directory of the image store.
  const staged = await pollUntil('half the upload staged', async () => {
    for (const f of await readdir(join(dataDir(), 'images'))) {
      if (!f.startsWith('.tmp-')) continue;
      const st = await stat(join(dataDir(), 'images', f, 'upload')).catch(() => undefined);
      if (st && st.size >= half.length) return f;
    }
    return undefined;
  }, { timeoutMs: 60_000, intervalMs: 50 });
  await controller!.kill();
  req.destroy();
  await answered;
  assert.ok((await state()).files.includes(staged), 'the partial upload is left by the crash');

  await restart();
  assert.deepEqual(await state(), before0, 'the restart removed the partial upload: no image, object or blob');
  const img = await api.uploadImage({ name: 'crash2', file: disk });
  assert.equal(img.sha256, sha256(bytes));
  await api.deleteImage(img.id);
});

test('an image registered from a multipart object (its parts kept as the object\'s blobs) is one file of its own; the data route serves its bytes', async () => {
  const before0 = await state();
  const adminKey = await new AccessKeyClient(api.baseUrl, token).create('me', {});
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region: 'nubo-1', forcePathStyle: true, credentials: { accessKeyId: adminKey.accessKeyId, secretAccessKey: adminKey.secretAccessKey } });
  try {
    // A raw disk of 6 MiB in two parts: 5 MiB and 1 MiB, each with a pattern of its own.
    const p1 = Buffer.alloc(5 << 20, 0x11);
    const p2 = Buffer.alloc(1 << 20, 0x22);
    const whole = Buffer.concat([p1, p2]);
    await s3.send(new CreateBucketCommand({ Bucket: 'disks' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'disks', Key: 'two-parts.raw' }));
    const parts: { PartNumber: number; ETag: string }[] = [];
    for (const [i, body] of [p1, p2].entries()) parts.push({ PartNumber: i + 1, ETag: (await s3.send(new UploadPartCommand({ Bucket: 'disks', Key: 'two-parts.raw', UploadId, PartNumber: i + 1, Body: body }))).ETag! });
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'disks', Key: 'two-parts.raw', UploadId, MultipartUpload: { Parts: parts } }));
    const parted = db((d) => d.prepare("select parts from s3_objects where bucket = 'disks'").get() as { parts: string | null });
    assert.equal((JSON.parse(parted.parts ?? '[]') as unknown[]).length, 2, 'the object is its two parts');

    const img = await api.registerImageFromS3({ name: 'from-parts', bucket: 'disks', key: 'two-parts.raw' });
    assert.deepEqual([img.format, img.sizeBytes, img.sha256], ['raw', whole.length, sha256(whole)]);
    const res = await fetch(`${api.baseUrl}/api/v1/images/${img.id}/data`, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
    assert.equal(res.status, 307);
    assert.equal(sha256(Buffer.from(await (await fetch(res.headers.get('location') ?? '')).arrayBuffer())), sha256(whole), 'the presigned GET serves the joined bytes');
    // The image does not depend on the user's object.
    await s3.send(new DeleteObjectCommand({ Bucket: 'disks', Key: 'two-parts.raw' }));
    const again = await fetch(`${api.baseUrl}/api/v1/images/${img.id}/data`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(sha256(Buffer.from(await again.arrayBuffer())), sha256(whole));
    await api.deleteImage(img.id);
    await s3.send(new DeleteBucketCommand({ Bucket: 'disks' }));
  } finally {
    s3.destroy();
  }
  assert.deepEqual(await state(), before0, 'no object, blob or image left');
});

/** An image the way a data directory from before the object store kept it: a file of the image store and its row. */
async function legacyImage(name: string): Promise<{ id: string; path: string }> {
  const id = randomUUID();
  const path = join(dataDir(), 'images', `${randomUUID()}.qcow2`);
  await copyFile(disk, path);
  const bytes = await readFile(path);
  db((d) => {
    const owner = (d.prepare("select id from users where role = 'admin' and deleted_at is null").get() as { id: string }).id;
    d.prepare("insert into images (id, name, owner_id, format, size_bytes, virtual_size_bytes, sha256, path, state, created_at) values (?, ?, ?, 'qcow2', ?, ?, ?, ?, 'ready', ?)")
      .run(id, name, owner, bytes.length, 16 * 1024 ** 2, sha256(bytes), path, new Date().toISOString());
  }, false);
  return { id, path };
}

const pathOf = (id: string): string => db((d) => (d.prepare('select path from images where id = ?').get(id) as { path: string }).path);

test('an older data directory\'s image files become objects at start, across a SIGKILL at each step of the move; the bytes served stay the same', async () => {
  await controller!.stop();
  const legacy = await legacyImage('legacy');
  const bytes = await readFile(disk);
  for (const point of ['image-move.before-object', 'image-move.before-image', 'image-move.before-unlink']) {
    controller = startController(`${point}=exit`);
    await waitKilled(`the controller killed at ${point}`);
  }
  // The last kill came after the image was repointed: its old file is what is left of the move.
  assert.equal(dirname(pathOf(legacy.id)), join(dataDir(), 's3'));
  await stat(legacy.path);

  await restart();
  await pollUntil('the old file removed', async () => (await stat(legacy.path).then(() => undefined, () => true)), { timeoutMs: 60_000, intervalMs: 200 });
  const path = pathOf(legacy.id);
  const s = await state();
  assert.deepEqual(s.objects, [`images/${basename(path)}`], 'one object, none left by the cut moves');
  assert.deepEqual(s.blobs, [basename(path)], 'one blob');
  assert.deepEqual(s.files.filter((f) => !f.startsWith('.')), [], 'no file left in the image store');
  const res = await fetch(`${api.baseUrl}/api/v1/images/${legacy.id}/data`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(bytes), 'the same bytes, now from the object');

  // A move that was never cut: file to object in one start, while the API serves.
  await controller!.stop();
  const second = await legacyImage('legacy2');
  await restart();
  await pollUntil('the second image moved', async () => (dirname(pathOf(second.id)) === join(dataDir(), 's3') && (await stat(second.path).then(() => false, () => true)) ? true : undefined), { timeoutMs: 60_000, intervalMs: 200 });
  assert.equal((await state()).objects.length, 2);
  await api.deleteImage(second.id);
  await api.deleteImage(legacy.id);
  assert.deepEqual(await state(), { objects: [], blobs: [], files: [], images: [] });
});
