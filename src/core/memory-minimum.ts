/**
 * How little memory a VM may have. QEMU starts a guest with less, but nothing
 * boots in it: a Linux kernel with an initramfs needs tens of MiB before its
 * init runs, and a guest short of memory dies in silence (the kernel's panic
 * on the serial console, QEMU gone, the VM `running` until the next report).
 * So a VM's memory has an absolute floor, and each image carries the minimum
 * its guest was seen to boot with (as Glance's `min_ram`), held against every
 * VM made from it or resized.
 */

/** The API's floor for a VM's memory (create, resize, templates, leases, scaling groups): about what QEMU, firmware and the smallest kernel need. */
export const MIN_VM_MEMORY_MIB = 64;

/** An image registered without a minimum: the floor (a generic disk says nothing of its guest; its owner states one with `minMemoryMiB`). */
export const DEFAULT_IMAGE_MIN_MEMORY_MIB = MIN_VM_MEMORY_MIB;

/**
 * What the nubo-tiny guest (Debian's cloud kernel, its initramfs unpacked into
 * RAM) needs, with a margin: under TCG it booted to its ready marker with 74 MiB
 * and died "deadlocked on memory" with 72 (QEMU 7.2, kernel 6.1, measured by
 * booting it with decreasing -m). 96 leaves room for a larger kernel or initramfs.
 */
export const TINY_IMAGE_MIN_MEMORY_MIB = 96;

export interface ImageMinimum {
  readonly name: string;
  readonly minMemoryMiB: number;
}

/** Of the images a VM boots from (disk, kernel, initrd), the one whose minimum `memoryMiB` is below — the largest minimum — or undefined when it is enough for all. */
export function memoryShortOf(memoryMiB: number, images: readonly ImageMinimum[]): ImageMinimum | undefined {
  let worst: ImageMinimum | undefined;
  for (const i of images) if (i.minMemoryMiB > memoryMiB && (worst === undefined || i.minMemoryMiB > worst.minMemoryMiB)) worst = i;
  return worst;
}

/** The refusal's message, for the `memoryMiB` field: which image, its minimum, and what was asked. */
export function memoryShortMessage(memoryMiB: number, image: ImageMinimum): string {
  return `${memoryMiB} MiB is below the ${image.minMemoryMiB} MiB that image ${image.name} needs to boot (its minimum memory)`;
}
