import { readdir, readFile } from 'node:fs/promises';
import { runCommand } from '../../util/run-command.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';

/**
 * Runs QEMU with `-daemonize`: the command returns once QEMU has initialised
 * (or failed, with its reason on stderr), and the VM outlives this process so
 * that a restarted agent can adopt it.
 */
export async function launchQemu(binary: string, argv: readonly string[], netns: string | undefined, opts: WaitOptions & { readonly fds?: readonly number[] }): Promise<void> {
  const [file, args] = netns === undefined ? [binary, argv] : ['ip', ['netns', 'exec', netns, binary, ...argv]];
  await runCommand(file, args, { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000, fds: opts.fds });
}

export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is alive and is the QEMU of this VM: the pid must not have
 * been reused by an unrelated process since (we only ever signal our own).
 */
export async function isQemuOf(pid: number, vmId: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited already.
    if (/^\d+ \(.*\) Z /.test(stat)) return false;
    return cmdline.split('\0').includes(`guest=${vmId},debug-threads=on`);
  } catch {
    return false;
  }
}

/**
 * True once `pid` has finished exiting (no /proc entry, or a zombie). While a
 * process exits its cmdline already reads empty, so "not our QEMU any more" is
 * not yet "gone": its sockets and files may still be held.
 */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return true;
  }
}

/** Waits for the process to be gone; SIGKILLs it (by pid, after checking it is ours) if it outlives the wait. */
export async function ensureQemuGone(pid: number, vmId: string, opts: WaitOptions = {}): Promise<void> {
  const gone = async (): Promise<true | undefined> => ((await processGone(pid)) ? true : undefined);
  try {
    // Looked at often: a QEMU told to quit is usually gone within tens of milliseconds, and a save or a stop reports
    // only after it (a 50 ms step added ~50 ms to every suspend); a read of /proc costs next to nothing.
    await pollUntil(`exit of QEMU ${pid}`, gone, { timeoutMs: opts.timeoutMs ?? 5_000, intervalMs: 10, signal: opts.signal });
  } catch {
    // Only a pid proven to be this VM's QEMU is ever signalled: pids get reused.
    if (!(await isQemuOf(pid, vmId))) return;
    process.kill(pid, 'SIGKILL');
    await pollUntil(`exit of killed QEMU ${pid}`, gone, { timeoutMs: 5_000, intervalMs: 50 });
  }
}

/**
 * Ends every live QEMU started with this `-pidfile` (so: by this driver, for
 * this VM) and waits for it to be gone. For a launch that failed before the
 * driver held its process: the pid file may not be written yet, so /proc is
 * read. Matching the pid file's path, not only the VM's id, spares another
 * host's copy of the same VM on this machine (a lab's migration destination).
 */
export async function endUnregisteredQemu(pidFile: string, vmId: string): Promise<number[]> {
  const ended: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const at = argv.indexOf('-pidfile');
    if (at < 0 || argv[at + 1] !== pidFile || !argv.includes(`guest=${vmId},debug-threads=on`)) continue;
    const pid = Number(name);
    if (await processGone(pid)) continue;
    process.kill(pid, 'SIGKILL');
    await ensureQemuGone(pid, vmId);
    ended.push(pid);
  }
  return ended;
}
