import type { NuboClient } from '../client/nubo-client.js';
import type { TinyImage } from '../storage/tiny-image/build-tiny-image.js';
import type { WaitOptions } from '../util/deadline.js';
import { HOST_BRIDGE } from './lab-state.js';
import { ensureBridge } from '../network/lab-topology.js';
import { TINY_IMAGE_MIN_MEMORY_MIB } from '../core/memory-minimum.js';

/**
 * The lab's guest network: the fabric carries it to every host's `br0`, and
 * the fabric bridge holds its gateway, so the root namespace reaches a guest
 * on-link (the fabric's 198.18.0.1/16 covers the subnet too, but a guest on a
 * /24 needs a neighbour of its own subnet to answer to). High in
 * 198.18.64.0/18, away from the subnets the test suites create.
 */
export const LAB_NETWORK = Object.freeze({ name: 'lab', cidr: '198.18.120.0/24', gateway: '198.18.120.1', bridge: HOST_BRIDGE });

/**
 * What a lab that runs its own controller starts with, so that the README's
 * first steps work there as on `nubo up`: the nubo-tiny images, the network
 * `lab` and the `tiny` template with a NIC on it. Each is made only when
 * missing; returns what was made.
 */
export async function ensureLabCatalog(api: NuboClient, fabricBridge: string, image: TinyImage, w: WaitOptions = {}): Promise<string[]> {
  const made: string[] = [];
  if (await ensureBridge(fabricBridge, undefined, `${LAB_NETWORK.gateway}/24`, w)) made.push(`gateway ${LAB_NETWORK.gateway} on ${fabricBridge}`);
  const images = await api.listImages(w);
  // The kernel and its initramfs are what need memory to boot (the disk is data): they carry the guest's measured minimum.
  for (const [name, path, format, minMemoryMiB] of [
    ['nubo-tiny-disk', image.dataDisk, 'qcow2', undefined],
    ['nubo-tiny-kernel', image.kernel, 'kernel', TINY_IMAGE_MIN_MEMORY_MIB],
    ['nubo-tiny-initrd', image.initrd, 'initrd', TINY_IMAGE_MIN_MEMORY_MIB],
  ] as const) {
    if (images.some((i) => i.name === name)) continue;
    await api.uploadImage({ name, file: path, format, ...(minMemoryMiB !== undefined ? { minMemoryMiB } : {}) }, w);
    made.push(`image ${name}`);
  }
  if (!(await api.listNetworks(w)).some((n) => n.name === LAB_NETWORK.name)) {
    await api.createNetwork({ ...LAB_NETWORK }, w);
    made.push(`network ${LAB_NETWORK.name} ${LAB_NETWORK.cidr}`);
  }
  if (!(await api.listTemplates(w)).some((t) => t.name === 'tiny')) {
    await api.createTemplate({ name: 'tiny', vcpus: 1, memoryMiB: 128, image: 'nubo-tiny-disk', kernel: 'nubo-tiny-kernel', initrd: 'nubo-tiny-initrd', cmdline: image.cmdline, nics: [{ network: LAB_NETWORK.name }] }, w);
    made.push('template tiny');
  }
  return made;
}
