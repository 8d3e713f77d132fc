import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ImageCache, ImageFetchError } from './image-cache.js';
import type { ImageRef } from '../contract/agent-api.js';

const body = Buffer.alloc(256 * 1024, 7);
const sha256 = createHash('sha256').update(body).digest('hex');

/** A server whose paths hold the image: `/slow` sends half and waits for `release`, `/dead` half and then breaks once `breakDead` is called (at once after that). */
async function imageServer(): Promise<{ server: Server; base: string; release: () => void; breakDead: () => void; gets: string[] }> {
  let release = (): void => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let breakDead = (): void => {};
  const broken = new Promise<void>((r) => {
    breakDead = r;
  });
  const gets: string[] = [];
  const server = createServer((req, res: ServerResponse) => {
    gets.push(req.url ?? '');
    res.writeHead(200, { 'content-length': body.length });
    if (req.url === '/fast') return void res.end(body);
    res.write(body.subarray(0, body.length / 2));
    if (req.url === '/dead') return void broken.then(() => res.destroy());
    void released.then(() => res.end(body.subarray(body.length / 2)));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, release, breakDead, gets };
}

const ref = (url: string): ImageRef => ({ id: 'img-1', format: 'raw', sha256, sizeBytes: body.length, url });

test('a caller that gives up does not end the download for the others; the last one leaving ends it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cache-'));
  const s = await imageServer();
  try {
    const cache = new ImageCache(dir, 't');
    const first = new AbortController();
    const a = cache.ensure(ref(`${s.base}/slow`), first.signal);
    const b = cache.ensure(ref(`${s.base}/slow`));
    await new Promise((r) => setTimeout(r, 100));
    first.abort();
    await assert.rejects(a, (err: unknown) => err instanceof ImageFetchError && /gave up/.test(err.message));
    s.release();
    const path = await b;
    assert.deepEqual(await readFile(path), body);
    assert.equal(s.gets.length, 1, 'one download shared by both');

    // Alone, a caller that gives up ends the download: no part file stays behind.
    await rm(path);
    await rm(`${path}.sha256`);
    const s2 = await imageServer();
    try {
      const only = new AbortController();
      const c = cache.ensure(ref(`${s2.base}/slow`), only.signal);
      await new Promise((r) => setTimeout(r, 100));
      only.abort();
      await assert.rejects(c, ImageFetchError);
      // The caller is answered at once; the download's own clean-up follows (later under load): wait for it, 10 s at most.
      const parts = async (): Promise<string[]> => (await readdir(dir)).filter((f) => f.includes('.part'));
      for (const until = Date.now() + 10_000; (await parts()).length > 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await parts(), []);
    } finally {
      s2.release();
      s2.server.close();
    }
  } finally {
    s.server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a caller that joined a download from another URL which failed tries once with its own URL', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-cache-'));
  const s = await imageServer();
  try {
    const cache = new ImageCache(dir, 't');
    // The first controller's URL breaks mid-way (it died); its successor asks for the same image from its own.
    const old = cache.ensure(ref(`${s.base}/dead`));
    // The old download under way before the successor asks (the two look at the cache first: under load, the later
    // call could get there first and the old one would join the good download).
    for (const until = Date.now() + 10_000; !s.gets.includes('/dead') && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
    const fresh = cache.ensure(ref(`${s.base}/fast`));
    // Broken once the successor has joined it (its look at the cache is a stat's worth of time).
    await new Promise((r) => setTimeout(r, 200));
    s.breakDead();
    await assert.rejects(old, ImageFetchError);
    assert.deepEqual(await readFile(await fresh), body);
    assert.deepEqual(s.gets, ['/dead', '/fast']);
    // Same URL: no second try (a broken image or server is not hidden behind retries).
    await rm(join(dir, 'img-1.raw'));
    await rm(join(dir, 'img-1.raw.sha256'));
    const x = cache.ensure(ref(`${s.base}/dead`));
    const y = cache.ensure(ref(`${s.base}/dead`));
    await assert.rejects(x, ImageFetchError);
    await assert.rejects(y, ImageFetchError);
    assert.equal(s.gets.filter((g) => g === '/dead').length, 2);
  } finally {
    s.release();
    s.server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
