import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pollUntil } from '../util/deadline.js';
import { isQemuOf, processGone, readPidFile } from '../hypervisor/qemu/qemu-process.js';
import type { LabProcess } from './lab-state.js';
import { LabError } from './lab-error.js';
import { InvariantError } from '../errors/invariant-error.js';

/** The `nubo` CLI of this build (dist/src/cli/nubo.js). */
export const NUBO_CLI = join(import.meta.dirname, '..', 'cli', 'nubo.js');

/**
 * Starts `file args…` detached (its own process group, outliving the caller),
 * stdout and stderr appended to `logFile`. `marker` must be one of the
 * arguments: it identifies the process before it is ever signalled.
 */
export function spawnDetached(file: string, args: readonly string[], logFile: string, marker: string): LabProcess {
  if (!args.includes(marker)) throw new InvariantError(`the marker ${marker} must be one of the arguments`);
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new LabError(`cannot start ${file}`);
    child.on('error', () => { /* seen as a dead pid */ });
    child.unref();
    return { pid: child.pid, marker, logFile };
  } finally {
    closeSync(fd);
  }
}

/** True when the pid is alive (not a zombie) and its command line holds the marker: the lab's process, not a reused pid. */
export async function isLabProcess(p: LabProcess): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${p.pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) [ZX] /.test(stat)) return false;
    return (await readFile(`/proc/${p.pid}/cmdline`, 'utf8')).split('\0').includes(p.marker);
  } catch {
    return false;
  }
}

async function hasExited(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat === undefined || /^\d+ \(.*\) [ZX] /.test(stat);
}

/** SIGTERM by exact pid (only if it is still ours), SIGKILL if it outlives `graceMs`; resolves when it is gone. */
export async function stopLabProcess(p: LabProcess, graceMs = 10_000): Promise<void> {
  if (!(await isLabProcess(p))) return;
  const gone = async (): Promise<true | undefined> => ((await processGone(p.pid)) ? true : undefined);
  process.kill(p.pid, 'SIGTERM');
  try {
    await pollUntil(`exit of ${p.pid}`, gone, { timeoutMs: graceMs, intervalMs: 50 });
  } catch {
    if (await isLabProcess(p)) process.kill(p.pid, 'SIGKILL');
    await pollUntil(`exit of ${p.pid} after SIGKILL`, gone, { timeoutMs: 5_000, intervalMs: 50 });
  }
}

/**
 * Kills the QEMUs an agent left in its run directory (`<runDir>/<vmId>/qemu.pid`),
 * each only after its command line proves it is that VM's QEMU. Returns their pids.
 */
export async function killQemusIn(runDir: string): Promise<number[]> {
  const entries = await readdir(runDir).catch(() => [] as string[]);
  const killed: number[] = [];
  for (const vmId of entries) {
    const pid = await readPidFile(join(runDir, vmId, 'qemu.pid'));
    if (pid === undefined || !(await isQemuOf(pid, vmId))) continue;
    process.kill(pid, 'SIGKILL');
    await pollUntil(`exit of QEMU ${pid}`, async () => ((await processGone(pid)) ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    killed.push(pid);
  }
  return killed;
}

/** Waits until the process's log, from byte `from` on, matches `pattern`; returns the first capture group or the match. */
export async function waitForLog(p: LabProcess, pattern: RegExp, from: number, timeoutMs = 30_000, signal?: AbortSignal): Promise<string> {
  const file = p.logFile;
  return pollUntil(`${pattern.source} in ${file}`, async () => {
    const text = (await readFile(file).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8');
    const m = pattern.exec(text);
    if (m) return m[1] ?? m[0];
    // Exited means gone or a zombie: just after the spawn the child may not have exec'd yet and still shows
    // its parent's command line, so the marker check of isLabProcess would call a starting process dead.
    if (await hasExited(p.pid)) throw new LabError(`process ${p.pid} exited; see ${file}:\n${text.slice(-1500)}`);
    return undefined;
  }, { timeoutMs, intervalMs: 100, signal });
}

/** The size of a log file now (0 when there is none), so a wait reads only what comes next. */
export async function logSize(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}
