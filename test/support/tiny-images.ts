import type { NuboClient } from '../../src/client/nubo-client.js';
import type { TinyImage } from '../../src/storage/tiny-image/build-tiny-image.js';
import { TINY_IMAGE_MIN_MEMORY_MIB } from '../../src/core/memory-minimum.js';

/** Registers the nubo-tiny guest's three files as images `tiny-disk`, `tiny-kernel` and `tiny-initrd`, the boot files with the guest's minimum memory (as `lab up` and `nubo up` do). */
export async function uploadTinyImages(api: NuboClient, image: TinyImage): Promise<void> {
  await api.uploadImage({ name: 'tiny-disk', file: image.dataDisk });
  await api.uploadImage({ name: 'tiny-kernel', file: image.kernel, format: 'kernel', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
  await api.uploadImage({ name: 'tiny-initrd', file: image.initrd, format: 'initrd', minMemoryMiB: TINY_IMAGE_MIN_MEMORY_MIB });
}

/** The boot part of a template over those images (its size, NICs and user data are the caller's). */
export function tinyBoot(image: TinyImage): { image: string; kernel: string; initrd: string; cmdline: string } {
  return { image: 'tiny-disk', kernel: 'tiny-kernel', initrd: 'tiny-initrd', cmdline: image.cmdline };
}
