import { memoryShortMessage, memoryShortOf, type ImageMinimum } from '../core/memory-minimum.js';
import { ValidationError } from '../errors/validation-error.js';
import type { Store } from '../store/open-store.js';
import type { Template } from '../store/repositories/templates-repository.js';
import { findOrUndefined } from '../store/find-or-undefined.js';
import type { ControllerVmSpec } from './controller-vm-spec.js';

/** What the images' minimums are checked against: the images (ids; undefined ones skipped) a VM boots from. */
export interface MemoryMinimumCheck {
  readonly memoryMiB: number;
  readonly imageIds: readonly (string | undefined)[];
  /** The error's subject (`request`, `template`). */
  readonly what: string;
}

/** The images a VM's spec boots from: its disk's, and its kernel's and initrd's for a direct kernel boot. */
export function bootImageIds(spec: Pick<ControllerVmSpec, 'agent'>): (string | undefined)[] {
  const a = spec.agent as Partial<ControllerVmSpec['agent']> | undefined;
  return [a?.disk?.image.id, a?.kernel?.id, a?.initrd?.id];
}

/** The images a template's VMs boot from: its disk's, and its kernel's and initrd's (ids, as the template stores them). */
export function templateImageIds(t: Pick<Template, 'disks' | 'context'>): (string | undefined)[] {
  const id = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
  return [id(t.disks[0]?.['image']), id(t.context['kernel']), id(t.context['initrd'])];
}

/** The images of `imageIds` that still exist, each with its minimum (each id read once). */
async function bootImages(store: Store, imageIds: readonly (string | undefined)[]): Promise<ImageMinimum[]> {
  const images: ImageMinimum[] = [];
  for (const id of new Set(imageIds)) {
    if (id === undefined) continue;
    const img = await findOrUndefined(store.images.get(id));
    if (img) images.push({ name: img.name, minMemoryMiB: img.minMemoryMib });
  }
  return images;
}

/** The largest minimum memory of the images that still exist; 0 when none says more. */
export async function largestMinimum(store: Store, imageIds: readonly (string | undefined)[]): Promise<number> {
  return Math.max(0, ...(await bootImages(store, imageIds)).map((i) => i.minMemoryMiB));
}

/**
 * Refuses memory below any of the images' minimum: a VM given less shows
 * `running` while its guest never boots. A 400 on `memoryMiB` naming the image
 * and its minimum; images gone since are not held against it.
 * @throws ValidationError
 */
export async function checkMemoryMinimum(store: Store, c: MemoryMinimumCheck): Promise<void> {
  const short = memoryShortOf(c.memoryMiB, await bootImages(store, c.imageIds));
  if (short !== undefined) throw new ValidationError(c.what, [{ field: 'memoryMiB', message: memoryShortMessage(c.memoryMiB, short) }]);
}
