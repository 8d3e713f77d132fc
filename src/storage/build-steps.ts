import { CommandError } from '../errors/command-error.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ImageBuildError } from './tiny-image/image-build-error.js';

/** Progress of a build: called as each step starts (`index` 0-based) and once at the end with `step: 'done'` and `index === total`. */
export type BuildProgress = (p: { step: string; index: number; total: number }) => void;

/**
 * The step runner both builders share: each step is announced to `onProgress`
 * before it starts, and a failure that is not already an ImageBuildError
 * becomes one naming the step, the Debian package involved (when there is
 * one) and a command's stderr.
 */
export function buildSteps<S extends string>(steps: readonly S[], signal: AbortSignal, onProgress: BuildProgress | undefined): {
  run: <T>(step: S, pkg: string | undefined, fn: () => Promise<T>) => Promise<T>;
  done: () => void;
} {
  let index = 0;
  return {
    run: async (step, pkg, fn) => {
      signal.throwIfAborted();
      onProgress?.({ step, index: index++, total: steps.length });
      try {
        return await fn();
      } catch (err) {
        if (signal.aborted || err instanceof ImageBuildError) throw err;
        const stderr = err instanceof CommandError ? err.stderr : '';
        throw new ImageBuildError(step, pkg, `${step} failed${pkg ? ` (${pkg})` : ''}: ${errorMessage(err)}`, stderr, { cause: err });
      }
    },
    done: () => onProgress?.({ step: 'done', index: steps.length, total: steps.length }),
  };
}
