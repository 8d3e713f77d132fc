import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';

/** What every cached image's manifest holds: the recipe it was built from (a hash of everything that shapes it). */
export interface ImageManifest { readonly recipe: string }

export interface ImageCacheSpec<M extends ImageManifest, I> {
  /** The image's folder under the cache directory (`nubo-tiny`). */
  readonly name: string;
  /** Hash of this version's recipe: an image built from another is stale. */
  readonly recipe: string;
  readonly manifest: z.ZodType<M>;
  /** The image as the caller sees it, from its folder and manifest. */
  readonly imageAt: (dir: string, m: M) => I;
  /** The files the image is made of: all must exist for it to be complete. */
  readonly files: (image: I) => readonly string[];
}

const MANIFEST = 'manifest.json';
/** A live build ends (or hits its command timeouts) well within an hour of making its folder. */
const ABANDONED_AFTER_MS = 3_600_000;

/**
 * A guest image built into a cache directory (nubo-tiny, nubo-debian), with
 * the guarantees both builders need: a build happens in a folder beside the
 * final one and is installed with one rename, the manifest written last marks
 * it complete, an image of another recipe is stale, a concurrent build's
 * image is taken rather than replaced, and folders of builds killed long ago
 * are removed.
 */
export class ImageCache<M extends ImageManifest, I> {
  readonly #spec: ImageCacheSpec<M, I>;
  readonly #buildPrefix: string;

  constructor(spec: ImageCacheSpec<M, I>) {
    this.#spec = spec;
    this.#buildPrefix = `.${spec.name}-build-`;
  }

  /** The image if built and complete for this recipe, else undefined. No I/O beyond stat/read. */
  async find(cacheDir: string): Promise<I | undefined> {
    const dir = join(cacheDir, this.#spec.name);
    let manifest: M;
    try {
      const parsed = this.#spec.manifest.safeParse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')));
      if (!parsed.success) return undefined;
      manifest = parsed.data;
    } catch {
      return undefined;
    }
    if (manifest.recipe !== this.#spec.recipe) return undefined;
    const image = this.#spec.imageAt(dir, manifest);
    for (const path of this.#spec.files(image)) {
      try {
        if (!(await stat(path)).isFile()) return undefined;
      } catch {
        return undefined;
      }
    }
    return image;
  }

  /**
   * The cached image (unless `force`), else one built by `build` into a new
   * folder beside the final place (a crash leaves a build folder, never a half
   * image); `build` ends with `install`. The build folder is removed whatever happens.
   */
  async obtain(cacheDir: string, force: boolean, build: (tmp: string) => Promise<I>): Promise<I> {
    if (!force) {
      const cached = await this.find(cacheDir);
      if (cached) return cached;
    }
    await mkdir(cacheDir, { recursive: true });
    await this.#removeAbandonedBuilds(cacheDir);
    const tmp = await mkdtemp(join(cacheDir, this.#buildPrefix));
    try {
      return await build(tmp);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Writes the manifest into the finished folder `out` (last: its presence
   * marks the image complete) and moves it to its place, replacing a stale or
   * incomplete image — or, unless `force`, taking a complete one a concurrent
   * build installed meanwhile. The old folder goes into `tmp` (removed by
   * `obtain`), so that the swap is two renames.
   */
  async install(out: string, cacheDir: string, tmp: string, force: boolean, manifest: M): Promise<I> {
    await writeFile(join(out, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    const dir = join(cacheDir, this.#spec.name);
    try {
      await rename(out, dir);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      if (!force) {
        const other = await this.find(cacheDir);
        if (other) return other;
      }
      await rename(dir, join(tmp, 'replaced'));
      await rename(out, dir);
    }
    return this.#spec.imageAt(dir, this.#spec.manifest.parse(JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'))));
  }

  /**
   * A killed build leaves its folder (130–500 MB) behind; one older than an
   * hour is no live build's, so it is removed even with other builders about.
   * A killed mmdebstrap may leave /proc, /sys and /dev mounted inside its tree:
   * such a folder is left alone (a recursive delete would walk into them) for
   * the operator to unmount.
   */
  async #removeAbandonedBuilds(cacheDir: string): Promise<void> {
    const cutoff = Date.now() - ABANDONED_AFTER_MS;
    const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
    for (const name of await readdir(cacheDir)) {
      if (!name.startsWith(this.#buildPrefix)) continue;
      const path = join(cacheDir, name);
      if (mounts.split('\n').some((l) => l.split(' ')[1]?.startsWith(`${path}/`))) continue;
      try {
        if ((await stat(path)).mtimeMs < cutoff) await rm(path, { recursive: true, force: true });
      } catch {
        // Raced with its owner finishing: nothing left to clean.
      }
    }
  }
}
