import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { buildDebianImage, findDebianImage } from '../../storage/debian-image/build-debian-image.js';
import { imageCacheDir } from '../../util/nubo-home.js';
import { runCliAction } from '../run-cli-action.js';

export function registerImageBuildDebian(image: Command): void {
  image
    .command('build-debian')
    .description(
      'build a Debian 12 (bookworm) guest image with real cloud-init, openssh-server and qemu-guest-agent from Debian packages ' +
        '(mmdebstrap from the mirror this machine\'s apt uses) into the image cache: root disk (qcow2, ext4), kernel and initrd for direct kernel boot',
    )
    .option('--cache <dir>', 'image cache directory', imageCacheDir())
    .option('--force', 'rebuild even if a complete image is cached', false)
    .option('--json', 'print the image as JSON', false)
    .action(
      runCliAction(async (signal, o: { cache: string; force: boolean; json: boolean }) => {
        const cached = o.force ? undefined : await findDebianImage(o.cache);
        const bar = new cliProgress.SingleBar({ format: 'building nubo-debian [{bar}] {value}/{total} {step}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
        let started = false;
        const img =
          cached ??
          (await buildDebianImage({
            cacheDir: o.cache,
            force: o.force,
            signal,
            onProgress: ({ step, index, total }) => {
              if (o.json) return;
              if (!started) {
                bar.start(total, index, { step });
                started = true;
              } else bar.update(index, { step });
            },
          }).finally(() => started && bar.stop()));
        if (o.json) {
          process.stdout.write(`${JSON.stringify(img, null, 2)}\n`);
        } else {
          process.stdout.write(
            `${cached ? 'already built' : 'built'}: ${img.dir}\n  kernel  ${img.kernel} (${img.kernelVersion})\n  initrd  ${img.initrd}\n  disk    ${img.rootDisk}\n` +
              `  cmdline ${img.cmdline}\n  login   ${img.loginUser} (cloud-init gives it the VM owner's ssh keys)\n`,
          );
        }
      }),
    );
}
