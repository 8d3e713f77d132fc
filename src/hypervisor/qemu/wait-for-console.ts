import { readFile } from 'node:fs/promises';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';

/**
 * Waits until the VM's console log contains `text` (e.g. `NUBO-READY vm-1`)
 * and returns the log up to then. The log is a file QEMU appends to, so
 * polling it is simple and survives a restart of the watcher.
 */
export async function waitForConsole(logPath: string, text: string, opts: WaitOptions = {}): Promise<string> {
  return pollUntil(
    `console text "${text}"`,
    async () => {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      return log.includes(text) ? log : undefined;
    },
    { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 50 },
  );
}
