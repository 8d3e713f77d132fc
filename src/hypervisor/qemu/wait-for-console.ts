import { readFile } from 'node:fs/promises';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';

/**
 * Waits until the VM's console log has a line that is exactly `line` (e.g.
 * `NUBO-READY vm-1` — a whole line, so that vm-1 does not match vm-10) and
 * returns the log. The serial console ends lines in CRLF. The log is a file
 * QEMU appends to, so polling it is simple and survives a restart of the watcher.
 */
export async function waitForConsole(logPath: string, line: string, opts: WaitOptions & { readonly count?: number } = {}): Promise<string> {
  // `count`: that many such lines (a log kept across boots holds every boot's marker: the second boot's is the second).
  const count = opts.count ?? 1;
  return pollUntil(
    count === 1 ? `console line "${line}"` : `${count} console lines "${line}"`,
    async () => {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      return log.split('\n').filter((l) => l.replace(/\r$/, '') === line).length >= count ? log : undefined;
    },
    { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 50 },
  );
}
