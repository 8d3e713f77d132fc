import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { S3BlobStore } from '../s3/s3-blob-store.js';
import { openStore } from '../store/open-store.js';
import { Failpoints } from '../util/failpoints.js';
import { IMAGE_BUCKET, ImageObjects } from './image-objects.js';
import { ValidationError } from '../errors/validation-error.js';
import { verifySigV4 } from '../aws/sigv4/verify-sigv4.js';

const execFileP = promisify(execFile);

async function setup(o: { s3Url?: string; failpoints?: Failpoints } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-imgobj-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'db') });
  const blobs = new S3BlobStore(join(dir, 's3'));
  await blobs.init();
  const objects = new ImageObjects({ store, blobs, logger: pino({ level: 'silent' }), s3Url: () => o.s3Url, region: 'nubo-1', failpoints: o.failpoints });
  const alice = (await store.users.create({ name: 'alice' })).user.id;
  const bob = (await store.users.create({ name: 'bob' })).user.id;
  await store.s3.createBucket('alice-b', alice);
  /** Puts a file as alice's object `key`. */
  const put = async (key: string, file: string): Promise<void> => {
    const { createReadStream } = await import('node:fs');
    const b = await blobs.write(createReadStream(file), undefined, { signal: AbortSignal.timeout(60_000), maxBytes: 1 << 30, onTooLarge: () => new Error('too large') });
    await store.s3.putObject({ bucket: 'alice-b', key, blobId: b.blobId, size: b.size, etag: b.md5, headers: {} });
  };
  const qcow2 = join(dir, 'disk.qcow2');
  await execFileP('qemu-img', ['create', '-f', 'qcow2', qcow2, '16M'], { timeout: 60_000 });
  const state = async (): Promise<string> => JSON.stringify({ images: (await store.images.list()).length, objects: await store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 10 }), blobs: (await readdir(blobs.dir)).sort() });
  return { dir, store, blobs, objects, alice, bob, put, qcow2, state, close: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('the system user and bucket exist, and the system user is in no listing', async () => {
  const t = await setup();
  try {
    assert.equal((await t.store.s3.getBucket(IMAGE_BUCKET))?.ownerId, 'nubo-system');
    assert.deepEqual((await t.store.users.list()).map((u) => u.name), ['alice', 'bob']);
    assert.equal(await t.store.users.findByName('nubo-system'), undefined);
  } finally {
    await t.close();
  }
});

test('an object becomes an image whose bytes are a system object; deleting forgets both', async () => {
  const t = await setup();
  try {
    await t.put('d.qcow2', t.qcow2);
    const img = await t.objects.importObject({ name: 'd', ownerId: t.alice, bucket: 'alice-b', key: 'd.qcow2' });
    assert.equal(img.format, 'qcow2');
    assert.equal(img.virtualSizeBytes, 16 * 1024 ** 2);
    assert.equal(t.objects.holds(img), true);
    const [o] = await t.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 10 });
    assert.equal(o?.key, `images/${o?.blobId}`);
    assert.equal(img.path, t.blobs.path(o?.blobId ?? ''));
    assert.equal((await stat(img.path)).size, img.sizeBytes);
    await t.store.images.delete(img.id);
    await t.objects.forget(img);
    assert.deepEqual(await t.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 10 }), []);
    await assert.rejects(stat(img.path), /ENOENT/);
  } finally {
    await t.close();
  }
});

test('refusals name the field and write nothing', async () => {
  const t = await setup();
  try {
    await writeFile(join(t.dir, 'text'), 'not a disk');
    await t.put('text', join(t.dir, 'text'));
    await t.put('text.qcow2', join(t.dir, 'text'));
    await t.put('d.qcow2', t.qcow2);
    await t.store.s3.createBucket('bob-b', t.bob);
    const before = await t.state();
    const field = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (err) {
        assert.ok(err instanceof ValidationError, String(err));
        return `${err.field}: ${err.issues[0]?.message ?? ''}`;
      }
      assert.fail('accepted');
    };
    const imp = (bucket: string, key: string, extra: { format?: 'raw' } = {}) => t.objects.importObject({ name: 'x', ownerId: t.alice, bucket, key, ...extra });
    assert.match(await field(imp('alice-b', 'text')), /^object: .*is a raw disk of \d+ bytes: a disk is at least 1048576 bytes/);
    assert.match(await field(imp('alice-b', 'text.qcow2')), /^object: .*not a qcow2 image: qemu-img detects raw/);
    assert.match(await field(imp('alice-b', 'd.qcow2', { format: 'raw' })), /^format: .*qemu-img detects qcow2/);
    assert.match(await field(imp('bob-b', 'd.qcow2')), /^bucket: no bucket bob-b of yours/);
    assert.match(await field(imp(IMAGE_BUCKET, 'x')), /^bucket: /);
    assert.match(await field(imp('alice-b', 'nope')), /^key: no object nope/);
    assert.equal(await t.state(), before);
  } finally {
    await t.close();
  }
});

test('a registration that died between its object and its image is swept at start; one in flight is not', async () => {
  const fp = new Failpoints();
  let died = false;
  // The step "dies": it never returns, as a killed controller's would not, so no clean-up runs.
  fp.arm('image-object.before-image', () => {
    died = true;
    return new Promise<void>(() => {});
  });
  const t = await setup({ failpoints: fp });
  try {
    await t.put('d.qcow2', t.qcow2);
    void t.objects.importObject({ name: 'd', ownerId: t.alice, bucket: 'alice-b', key: 'd.qcow2' });
    await new Promise<void>((resolve) => {
      const tick = (): void => void (died ? resolve() : setTimeout(tick, 20));
      tick();
    });
    const [orphan] = await t.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 10 });
    assert.ok(orphan, 'the object row was written before the image row');
    assert.equal(await t.objects.sweep(new Date(Date.parse(orphan.modifiedAt))), 0, 'written since start: a registration in flight');
    assert.equal(await t.objects.sweep(new Date(Date.now() + 1000)), 1);
    assert.deepEqual(await t.store.s3.listObjects(IMAGE_BUCKET, { prefix: '', limit: 10 }), []);
    await assert.rejects(stat(t.blobs.path(orphan.blobId)), /ENOENT/);
    assert.equal((await t.store.images.list()).length, 0);
  } finally {
    await t.close();
  }
});

test('presigned URLs: to the S3 listener at the address the caller used, verified as the system user, never for a file image', async () => {
  const t = await setup({ s3Url: 'http://0.0.0.0:7491' });
  try {
    const img = { path: t.blobs.path('00000000-0000-4000-8000-000000000000') };
    const url = t.objects.presignedUrl(img, '198.18.0.1:7480');
    assert.ok(url?.startsWith(`http://198.18.0.1:7491/${IMAGE_BUCKET}/images/00000000-0000-4000-8000-000000000000?`), url);
    const u = new URL(url ?? '');
    const v = await verifySigV4({ method: 'GET', url: u.pathname + u.search, headers: { host: u.host } }, { region: 'nubo-1', service: 's3', lookupSecret: async (id) => t.objects.lookupSecret(id), now: new Date() });
    assert.equal(v.userId, 'nubo-system');
    assert.equal(t.objects.presignedUrl({ path: '/var/lib/nubo/images/x.qcow2' }, '198.18.0.1:7480'), undefined);
    assert.equal(t.objects.lookupSecret('AKIAOTHER'), undefined);
    const bound = await setup({ s3Url: 'http://127.0.0.1:7491' });
    try {
      // A listener bound to loopback cannot serve an agent that came from elsewhere: the controller serves it the bytes itself.
      const there = { path: bound.blobs.path('00000000-0000-4000-8000-000000000000') };
      assert.equal(bound.objects.presignedUrl(there, '198.18.0.1:7480'), undefined);
      assert.match(bound.objects.presignedUrl(there, '127.0.0.1:7480') ?? '', /^http:\/\/127\.0\.0\.1:7491\//);
    } finally {
      await bound.close();
    }
  } finally {
    await t.close();
  }
});
