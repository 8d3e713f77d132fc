import { NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { EXIT } from './exit-codes.js';

/**
 * Wraps a command's action: Ctrl-C aborts its signal (so waits end and what
 * was started gets cleaned up), errors print as one line with their stable
 * code, and the exit code says what kind of failure it was.
 */
export function runCliAction<A extends unknown[]>(action: (signal: AbortSignal, ...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const ctl = new AbortController();
    const onInt = (): void => {
      if (ctl.signal.aborted) process.exit(EXIT.INTERRUPTED);
      process.stderr.write('\ninterrupted: cleaning up (Ctrl-C again to quit at once)\n');
      ctl.abort(new Error('interrupted'));
    };
    process.on('SIGINT', onInt);
    try {
      process.exitCode = (await action(ctl.signal, ...args)) ?? EXIT.OK;
    } catch (err) {
      if (ctl.signal.aborted) {
        process.exitCode = EXIT.INTERRUPTED;
      } else if (err instanceof ValidationError) {
        process.stderr.write(`error [${err.code}]: ${err.message}\n`);
        process.exitCode = EXIT.USAGE;
      } else if (err instanceof NuboError) {
        process.stderr.write(`error [${err.code}]: ${err.message}\n`);
        process.exitCode = EXIT.FAILED;
      } else {
        process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = EXIT.FAILED;
      }
    } finally {
      process.off('SIGINT', onInt);
    }
  };
}
