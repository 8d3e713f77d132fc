import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { buildTinyImage, findTinyImage } from '../../storage/tiny-image/build-tiny-image.js';
import { imageCacheDir } from '../../util/nubo-home.js';
import { runCliAction } from '../run-cli-action.js';

export function registerImageBuildTiny(image: Command): void {
  image
    .command('build-tiny')
    .description('build the nubo-tiny guest image (Debian cloud kernel + busybox initramfs + data disk) into the image cache')
    .option('--cache <dir>', 'image cache directory', imageCacheDir())
    .option('--force', 'rebuild even if a complete image is cached', false)
    .option('--json', 'print the image as JSON', false)
    .action(
      runCliAction(async (signal, o: { cache: string; force: boolean; json: boolean }) => {
        const cached = o.force ? undefined : await findTinyImage(o.cache);
        const bar = new cliProgress.SingleBar({ format: 'building nubo-tiny [{bar}] {value}/{total} {step}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
        let started = false;
        const img =
          cached ??
          (await buildTinyImage({
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
          process.stdout.write(`${cached ? 'already built' : 'built'}: ${img.dir}\n  kernel  ${img.kernel} (${img.kernelVersion})\n  initrd  ${img.initrd}\n  disk    ${img.dataDisk}\n`);
        }
      }),
    );
}
