import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../errors/validation-error.js';
import { imageInfo } from '../storage/qemu-img.js';
import type { Store } from '../store/open-store.js';
import type { Image } from '../store/repositories/images-repository.js';
import type { WaitOptions } from '../util/deadline.js';

export type ImageFormat = Image['format'];

/**
 * The controller's image store: registered images are copied into one
 * directory (so a user's later change to the source file cannot change a base
 * that VMs' overlays sit on), checked with qemu-img, hashed, and served to
 * agents by id.
 */
export class ImageStore {
  constructor(readonly dir: string, private readonly store: Store) {}

  async register(input: { name: string; path: string; format?: ImageFormat | undefined; ownerId: string }, opts: WaitOptions = {}): Promise<Image> {
    const st = await stat(input.path).catch(() => undefined);
    if (!st?.isFile()) throw new ValidationError('image', [{ field: 'path', message: `${input.path} is not a readable file on the controller` }]);
    let format: ImageFormat = input.format ?? 'raw';
    let virtualSize = st.size;
    if (input.format !== 'kernel' && input.format !== 'initrd') {
      const info = await imageInfo(input.path, opts).catch((err: unknown) => {
        throw new ValidationError('image', [{ field: 'path', message: `qemu-img cannot read it: ${String(err)}` }]);
      });
      if (info.format !== 'qcow2' && info.format !== 'raw') {
        throw new ValidationError('image', [{ field: 'path', message: `is a ${info.format} image; register qcow2 or raw (convert with qemu-img)` }]);
      }
      if (input.format !== undefined && info.format !== input.format) {
        throw new ValidationError('image', [{ field: 'format', message: `the file is ${info.format}, not ${input.format}` }]);
      }
      // A base image must stand alone: its backing file would lie outside the image store.
      if (info.backingFile !== undefined) {
        throw new ValidationError('image', [{ field: 'path', message: `has a backing file (${info.backingFile}) outside the image store; flatten it with qemu-img convert first` }]);
      }
      format = info.format;
      virtualSize = info.virtualSize;
    }
    await mkdir(this.dir, { recursive: true });
    const dest = join(this.dir, `${randomUUID()}.${format}`);
    try {
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await pipeline(createReadStream(input.path), tap, createWriteStream(dest, { flags: 'wx' }), { signal: opts.signal ?? new AbortController().signal });
      return await this.store.images.create({
        name: input.name,
        ownerId: input.ownerId,
        format,
        sizeBytes: st.size,
        virtualSizeBytes: virtualSize,
        sha256: hash.digest('hex'),
        path: dest,
      });
    } catch (err) {
      await rm(dest, { force: true });
      throw err;
    }
  }

  /** Removes the record and the file. */
  async delete(id: string): Promise<void> {
    const img = await this.store.images.get(id);
    await this.store.images.delete(id);
    await rm(img.path, { force: true });
  }
}
