import { readFile } from 'node:fs/promises';
import { errorMessage } from '../errors/nubo-error.js';
import { runCommand } from '../util/run-command.js';

/** How the agent checks its host's health for proactive HA. */
export interface HostHealthCheck {
  /** A flag file: present means degraded, its first line the reason (the lab's way to fail a host's check). */
  readonly file: string;
  /** An operator's check, run each beat: exit 0 healthy, anything else degraded. */
  readonly command?: readonly string[] | undefined;
  readonly timeoutMs?: number | undefined;
}

/** The failing check's reason, or null when the host is healthy. */
export async function readHostHealth(c: HostHealthCheck, signal?: AbortSignal): Promise<string | null> {
  const flag = await readFile(c.file, 'utf8').then((t) => t.split('\n', 1)[0]?.trim() || `health flag ${c.file} is set`, () => null);
  if (flag !== null) return flag.slice(0, 1024);
  const [file, ...args] = c.command ?? [];
  if (file === undefined) return null;
  try {
    await runCommand(file, args, { timeoutMs: c.timeoutMs ?? 10_000, signal });
    return null;
  } catch (err) {
    // A check that cannot run, or hangs, says the host is not healthy either.
    return `health check ${file} failed: ${errorMessage(err)}`.slice(0, 1024);
  }
}
