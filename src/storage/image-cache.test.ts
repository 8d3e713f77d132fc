import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ImageCache } from './image-cache.js';

const manifest = z.object({ recipe: z.string(), label: z.string() });
type M = z.infer<typeof manifest>;
interface Img { dir: string; file: string; label: string }
const spec = (recipe: string) => ({
  name: 'nubo-test', recipe, manifest,
  imageAt: (dir: string, m: M): Img => ({ dir, file: join(dir, 'disk'), label: m.label }),
  files: (i: Img) => [i.file],
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nubo-imgcache-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A build as the builders do it: the image's files into `tmp/image`, then install. */
const builder = (cache: ImageCache<M, Img>, cacheDir: string, label: string, force = false) => async (tmp: string): Promise<Img> => {
  const out = join(tmp, 'image');
  await mkdir(out);
  await writeFile(join(out, 'disk'), label);
  return cache.install(out, cacheDir, tmp, force, { recipe: 'r1', label });
};

describe('ImageCache', () => {
  it('builds once, then answers from the cache; the build folder is gone either way', async () => withDir(async (dir) => {
    const cache = new ImageCache(spec('r1'));
    let builds = 0;
    const first = await cache.obtain(dir, false, (tmp) => (builds++, builder(cache, dir, 'a')(tmp)));
    assert.deepEqual(first, { dir: join(dir, 'nubo-test'), file: join(dir, 'nubo-test', 'disk'), label: 'a' });
    assert.deepEqual(await cache.obtain(dir, false, () => Promise.reject(new Error('must not build'))), first);
    assert.equal(builds, 1);
    assert.deepEqual(await readdir(dir), ['nubo-test'], 'no build folder left');
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'nubo-test', 'manifest.json'), 'utf8')), { recipe: 'r1', label: 'a' });
  }));

  it('a failed build leaves no folder and no image', async () => withDir(async (dir) => {
    const cache = new ImageCache(spec('r1'));
    await assert.rejects(cache.obtain(dir, false, async (tmp) => {
      await writeFile(join(tmp, 'half'), 'x');
      throw new Error('step failed');
    }), /step failed/);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await cache.find(dir), undefined);
  }));

  it('find ignores an image of another recipe, without its manifest, or missing a file', async () => withDir(async (dir) => {
    const old = new ImageCache(spec('r0'));
    const cache = new ImageCache(spec('r1'));
    await cache.obtain(dir, false, builder(cache, dir, 'a'));
    assert.equal(await old.find(dir), undefined, 'stale: another recipe');
    await rm(join(dir, 'nubo-test', 'disk'));
    assert.equal(await cache.find(dir), undefined, 'a file missing');
    await writeFile(join(dir, 'nubo-test', 'disk'), 'a');
    await writeFile(join(dir, 'nubo-test', 'manifest.json'), '{"recipe":');
    assert.equal(await cache.find(dir), undefined, 'a half-written manifest');
  }));

  it('install takes the complete image a concurrent build put in place, or replaces it when forced or stale', async () => withDir(async (dir) => {
    const cache = new ImageCache(spec('r1'));
    // Two builds started before either installed: the second finds the first's image at install.
    const [a, b] = await Promise.all([
      cache.obtain(dir, false, builder(cache, dir, 'first')),
      cache.obtain(dir, false, async (tmp) => {
        await new Promise((r) => setTimeout(r, 50));
        return builder(cache, dir, 'second')(tmp);
      }),
    ]);
    assert.equal(a.label, 'first');
    assert.equal(b.label, 'first', 'the concurrent build took the installed image');
    assert.equal((await cache.obtain(dir, true, builder(cache, dir, 'forced', true))).label, 'forced');
    assert.equal((await cache.find(dir))?.label, 'forced');
    assert.deepEqual(await readdir(dir), ['nubo-test'], 'the replaced folder went with the build folder');
  }));

  it('removes build folders older than an hour, keeps younger ones (a live build\'s) and other names', async () => withDir(async (dir) => {
    const cache = new ImageCache(spec('r1'));
    const old = join(dir, '.nubo-test-build-old');
    const live = join(dir, '.nubo-test-build-live');
    const other = join(dir, '.nubo-other-build-old');
    for (const d of [old, live, other]) await mkdir(d);
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    await utimes(other, twoHoursAgo, twoHoursAgo);
    await cache.obtain(dir, false, builder(cache, dir, 'a'));
    assert.deepEqual((await readdir(dir)).sort(), ['.nubo-other-build-old', '.nubo-test-build-live', 'nubo-test']);
  }));
});
