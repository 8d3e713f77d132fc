import type { Command } from 'commander';
import { buildTinyImage, findTinyImage } from '../../storage/tiny-image/build-tiny-image.js';
import { registerImageBuild } from '../register-image-build.js';

export function registerImageBuildTiny(image: Command): void {
  registerImageBuild(image, {
    command: 'build-tiny',
    description: 'build the nubo-tiny guest image (Debian cloud kernel + busybox initramfs + data disk) into the image cache',
    label: 'nubo-tiny',
    find: findTinyImage,
    build: buildTinyImage,
    describe: (img) => `  kernel  ${img.kernel} (${img.kernelVersion})\n  initrd  ${img.initrd}\n  disk    ${img.dataDisk}\n`,
  });
}
