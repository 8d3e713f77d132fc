import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { BuildProgress } from '../storage/build-steps.js';
import { imageCacheDir } from '../util/nubo-home.js';
import { runCliAction } from './run-cli-action.js';

/** One guest image nubo builds: its subcommand, and how to find, build and show it. */
export interface ImageBuildCommand<I extends { dir: string }> {
  /** The subcommand (`build-tiny`). */
  readonly command: string;
  readonly description: string;
  /** The image's name in the progress bar (`nubo-tiny`). */
  readonly label: string;
  readonly find: (cacheDir: string) => Promise<I | undefined>;
  readonly build: (o: { cacheDir: string; force: boolean; signal: AbortSignal; onProgress: BuildProgress }) => Promise<I>;
  /** The lines after `built: <dir>` in text output. */
  readonly describe: (image: I) => string;
}

/**
 * `nubo image build-*`: a cached image is answered as it is (unless --force),
 * otherwise built with a progress bar of its steps (none with --json, whose
 * output is the image alone).
 */
export function registerImageBuild<I extends { dir: string }>(image: Command, c: ImageBuildCommand<I>): void {
  image
    .command(c.command)
    .description(c.description)
    .option('--cache <dir>', 'image cache directory', imageCacheDir())
    .option('--force', 'rebuild even if a complete image is cached', false)
    .option('--json', 'print the image as JSON', false)
    .action(
      runCliAction(async (signal, o: { cache: string; force: boolean; json: boolean }) => {
        const cached = o.force ? undefined : await c.find(o.cache);
        const bar = new cliProgress.SingleBar({ format: `building ${c.label} [{bar}] {value}/{total} {step}`, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
        let started = false;
        const img =
          cached ??
          (await c.build({
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
        if (o.json) process.stdout.write(`${JSON.stringify(img, null, 2)}\n`);
        else process.stdout.write(`${cached ? 'already built' : 'built'}: ${img.dir}\n${c.describe(img)}`);
      }),
    );
}
