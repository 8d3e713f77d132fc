import { TimeoutError } from '../errors/timeout-error.js';

/** Optional fields accept undefined so that callers can pass their own options straight through. */
export interface WaitOptions {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * One signal for "the caller gave up or the deadline passed". The deadline
 * aborts with a TimeoutError naming the operation, so a caller sees what was
 * being waited for rather than a bare AbortError. `dispose` clears the timer.
 */
export function deadline(operation: string, timeoutMs: number, signal?: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new TimeoutError(operation, timeoutMs)), timeoutMs);
  const onAbort = (): void => ctl.abort(signal?.reason);
  if (signal?.aborted) ctl.abort(signal.reason);
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ctl.signal,
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** The reason a signal aborted, as an Error. */
export function abortReason(signal: AbortSignal, what: string): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`${what} aborted`);
}

/** Resolves after `ms`, or rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal, 'sleep'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortReason(signal!, 'sleep'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `check` until it returns a value other than undefined, every
 * `intervalMs`, until the deadline. Used where QEMU offers no event to wait on.
 */
export async function pollUntil<T>(
  operation: string,
  check: () => Promise<T | undefined> | T | undefined,
  opts: WaitOptions & { intervalMs?: number | undefined } = {},
): Promise<T> {
  const d = deadline(operation, opts.timeoutMs ?? 30_000, opts.signal);
  try {
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      await sleep(opts.intervalMs ?? 100, d.signal);
    }
  } finally {
    d.dispose();
  }
}
