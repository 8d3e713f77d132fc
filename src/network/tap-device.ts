import { runCommand } from '../util/run-command.js';
import type { WaitOptions } from '../util/deadline.js';

export interface TapRef {
  readonly name: string;
  /** Network namespace the TAP lives in; undefined for the root namespace. */
  readonly netns?: string;
}

function ipArgs(netns: string | undefined, args: string[]): string[] {
  return netns === undefined ? args : ['-n', netns, ...args];
}

/**
 * Creates a persistent TAP (so QEMU can attach to it by name without
 * privileges of its own) and enslaves it to `bridge` when given.
 */
export async function createTap(tap: TapRef, bridge: string | undefined, opts: WaitOptions = {}): Promise<void> {
  const o = { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 };
  await runCommand('ip', ipArgs(tap.netns, ['tuntap', 'add', 'dev', tap.name, 'mode', 'tap']), o);
  try {
    if (bridge !== undefined) await runCommand('ip', ipArgs(tap.netns, ['link', 'set', 'dev', tap.name, 'master', bridge]), o);
    await runCommand('ip', ipArgs(tap.netns, ['link', 'set', 'dev', tap.name, 'up']), o);
  } catch (err) {
    await deleteTap(tap, opts);
    throw err;
  }
}

/** Removes the TAP by its exact name; a TAP that is already gone is fine. */
export async function deleteTap(tap: TapRef, opts: WaitOptions = {}): Promise<void> {
  if (!(await tapExists(tap, opts))) return;
  await runCommand('ip', ipArgs(tap.netns, ['tuntap', 'del', 'dev', tap.name, 'mode', 'tap']), { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 });
}

export async function tapExists(tap: TapRef, opts: WaitOptions = {}): Promise<boolean> {
  try {
    await runCommand('ip', ipArgs(tap.netns, ['link', 'show', 'dev', tap.name]), { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 10_000 });
    return true;
  } catch {
    return false;
  }
}
