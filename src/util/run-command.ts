import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CommandError } from '../errors/command-error.js';
import { TimeoutError } from '../errors/timeout-error.js';

export interface RunOptions {
  readonly signal?: AbortSignal | undefined;
  /** Default 60 s: every external command has a deadline. */
  readonly timeoutMs?: number | undefined;
  readonly cwd?: string | undefined;
  readonly input?: string | Buffer | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Open descriptors the child inherits as its fd 3, 4, …; the caller still owns (and closes) them. */
  readonly fds?: readonly number[] | undefined;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argv array (never a shell string), collects its output
 * and rejects with a CommandError carrying stderr when it exits non-zero.
 * The child is killed by its own pid on abort or timeout.
 */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const name = [file, ...args.slice(0, 2)].join(' ');
  return new Promise<RunResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error(`${name} aborted`));
      return;
    }
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe', ...(opts.fds ?? [])],
      // Pipes in the first three places whatever follows them; the typings only know that of a 3-tuple.
    }) as ChildProcessWithoutNullStreams;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure: Error | undefined;
    const stop = (e: Error): void => {
      failure ??= e;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new TimeoutError(name, timeoutMs)), timeoutMs);
    const onAbort = (): void => stop(opts.signal?.reason instanceof Error ? opts.signal.reason : new Error(`${name} aborted`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => { /* the program may exit before reading its input */ });
    child.stdin.end(opts.input);
    child.on('error', (e) => {
      failure ??= new CommandError(name, null, e.message, { cause: e });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (failure) reject(failure);
      else if (code !== 0) reject(new CommandError(name, code, stderr));
      else resolve({ stdout, stderr });
    });
  });
}
