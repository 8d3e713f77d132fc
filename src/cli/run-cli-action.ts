import { ZodError } from 'zod';
import { RemoteError, UnreachableError } from '../client/remote-error.js';
import { NuboError } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { EXIT } from './exit-codes.js';
import { UsageError } from './usage-error.js';

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
      } else if (err instanceof RemoteError) {
        process.exitCode = reportRemoteError(err);
      } else if (err instanceof UnreachableError) {
        const base = err.url.replace(/\/api\/v1\/.*$/, '');
        process.stderr.write(`error [UNREACHABLE]: controller at ${base} unreachable (${String(err.details['reason'])}) — is \`nubo up\` running?\n`);
        process.exitCode = EXIT.FAILED;
      } else if (err instanceof ValidationError || err instanceof UsageError) {
        process.stderr.write(`error [${err.code}]: ${err.message}\n`);
        process.exitCode = EXIT.USAGE;
      } else if (err instanceof ZodError) {
        const where = err.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
        process.stderr.write(`error [BAD_RESPONSE]: the controller's answer does not match the API contract (${where})\n`);
        process.exitCode = EXIT.FAILED;
      } else if (isLocalFileProblem(err)) {
        process.stderr.write(`error [LOCAL_FILE]: ${localFileProblem(err)}\n`);
        process.exitCode = EXIT.FAILED;
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

/**
 * A file the user named that the CLI could not open (`image register x ./typo.vmdk`):
 * said as the path and the reason, like LocalFileError, not as Node's stack.
 */
function localFileProblem(e: LocalFileProblem): string {
  const why: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', EISDIR: 'is a directory', ENOTDIR: 'a part of the path is not a directory' };
  return `${e.path}: ${why[e.code] ?? `cannot ${e.syscall} (${e.code})`}`;
}

type LocalFileProblem = Error & { readonly path: string; readonly syscall: string; readonly code: string };

function isLocalFileProblem(err: unknown): err is LocalFileProblem {
  const e = err as NodeJS.ErrnoException;
  return err instanceof Error && typeof e.path === 'string' && typeof e.syscall === 'string' && typeof e.code === 'string';
}

/**
 * How an API error becomes an exit code: the request itself was wrong (400)
 * or not allowed (401, 403) → 2; anything else — not found (404), wrong
 * state (409), server failures (5xx) — is a failed operation → 1.
 */
function reportRemoteError(err: RemoteError): number {
  const notFound = err.status === 404 && !/not found/i.test(err.message) ? ' (not found)' : '';
  const issues = err.details['issues'];
  const text = (v: unknown, or: string): string => (typeof v === 'string' ? v : or);
  const lines = err.code === 'VALIDATION_FAILED' && Array.isArray(issues)
    ? (issues as { field?: unknown; message?: unknown }[]).map((i) => `${text(i.field, '?')}: ${text(i.message, 'is invalid')}`)
    : [];
  // The server's message already ends with the issues joined by "; ": print them once, one a line.
  const joined = `: ${lines.join('; ')}`;
  const message = lines.length > 0 && err.message.endsWith(joined) ? err.message.slice(0, -joined.length) : err.message;
  process.stderr.write(`error [${err.code}]: ${message}${notFound}\n`);
  for (const l of lines) process.stderr.write(`  ${l}\n`);
  if (err.status === 401 || err.status === 403) {
    process.stderr.write('  check --token / NUBO_TOKEN / $NUBO_HOME/credentials.json\n');
  }
  return err.status === 400 || err.status === 401 || err.status === 403 ? EXIT.USAGE : EXIT.FAILED;
}
