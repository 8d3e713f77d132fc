import type { Command } from 'commander';
import { buildDebianImage, findDebianImage } from '../../storage/debian-image/build-debian-image.js';
import { registerImageBuild } from '../register-image-build.js';

export function registerImageBuildDebian(image: Command): void {
  registerImageBuild(image, {
    command: 'build-debian',
    description:
      'build a Debian 12 (bookworm) guest image with real cloud-init, openssh-server and qemu-guest-agent from Debian packages ' +
      '(mmdebstrap from the mirror this machine\'s apt uses) into the image cache: root disk (qcow2, ext4), kernel and initrd for direct kernel boot',
    label: 'nubo-debian',
    find: findDebianImage,
    build: buildDebianImage,
    describe: (img) =>
      `  kernel  ${img.kernel} (${img.kernelVersion})\n  initrd  ${img.initrd}\n  disk    ${img.rootDisk}\n` +
      `  cmdline ${img.cmdline}\n  login   ${img.loginUser} (cloud-init gives it the VM owner's ssh keys)\n`,
  });
}
