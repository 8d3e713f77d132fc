import { pino, type Logger } from 'pino';
import { UsageError } from './usage-error.js';

/**
 * Daemons log JSON lines (pino) to stdout, or to `file`; `level` defaults to NUBO_LOG_LEVEL, else info.
 * Written synchronously: a daemon killed (SIGKILL, the OOM killer, a failpoint) right after a line keeps it. pino's
 * default, a write handed to the thread pool, lost the last line of 5 in 20 such kills to stdout and of 20 in 20 to a
 * file here; a write(2) per line costs microseconds at these rates.
 */
export function daemonLogger(file?: string, level?: string): Logger {
  const opts = { level: level ?? process.env['NUBO_LOG_LEVEL'] ?? 'info' };
  return pino(opts, file === undefined ? pino.destination({ fd: 1, sync: true }) : pino.destination({ dest: file, mkdir: true, sync: true }));
}

/** `host:port` → parts; the port may be 0 (any free one). */
export function parseListen(value: string, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port > 65535) throw new UsageError('BAD_FLAG', `${flag} must be host:port, e.g. 127.0.0.1:7480 (got "${value}")`, { flag });
  return { host: m[1], port };
}

/** Resolves on SIGINT or SIGTERM (or when the signal aborts), so a daemon can stop in order. */
export function untilStopped(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string): void => {
      process.off('SIGTERM', onTerm);
      resolve(why);
    };
    const onTerm = (): void => done('SIGTERM');
    process.on('SIGTERM', onTerm);
    if (signal.aborted) done('SIGINT');
    else signal.addEventListener('abort', () => done('SIGINT'), { once: true });
  });
}
