/**
 * One QEMU started by hand for the benchmarks' raw paths (migration, boot,
 * provision): the TAP,
 * the command line (buildQemuArgv, so the device model is nubo's own) and the
 * QMP connection, with no driver, agent or controller in between. Everything
 * it makes is removed by exact pid and name in `stop`.
 */
import { mkdir, rm } from 'node:fs/promises';
import { buildQemuArgv } from '../src/hypervisor/qemu/build-qemu-argv.js';
import { ensureQemuGone, launchQemu, readPidFile } from '../src/hypervisor/qemu/qemu-process.js';
import { QmpClient } from '../src/hypervisor/qemu/qmp-client.js';
import { vmPaths, type VmPaths } from '../src/hypervisor/qemu/vm-paths.js';
import { waitForConsole } from '../src/hypervisor/qemu/wait-for-console.js';
import { parseVmSpec, type NicSpecInput, type VmSpec } from '../src/hypervisor/vm-spec.js';
import { prepareTinyVm } from '../src/storage/prepare-tiny-vm.js';
import type { TinyImage } from '../src/storage/tiny-image/build-tiny-image.js';
import { createTap, deleteTap, type TapRef } from '../src/network/tap-device.js';
import type { WaitOptions } from '../src/util/deadline.js';

export interface RawQemu {
  readonly spec: VmSpec;
  readonly paths: VmPaths;
  readonly pid: number;
  readonly qmp: QmpClient;
  readonly taps: readonly TapRef[];
}

export interface RawStartOptions extends WaitOptions {
  readonly accel: 'kvm' | 'tcg';
  /** Per-host run directory (sockets, pid file, console log). */
  readonly runDir: string;
  /** Paused with `-incoming defer`: a migration destination. */
  readonly incoming?: boolean;
  /** With `incoming`: not paused (no `-S`), so QEMU runs the guest itself once the stream completed (nubo's resume on completion). */
  readonly autostart?: boolean;
}

/** Starts `spec` (its netns, its TAPs on their bridges); resolves once QMP answers. */
export async function startRawQemu(spec: VmSpec, o: RawStartOptions): Promise<RawQemu> {
  const paths = vmPaths(o.runDir, spec.id);
  await rm(paths.dir, { recursive: true, force: true });
  await mkdir(paths.dir, { recursive: true });
  const taps: TapRef[] = [];
  let pid: number | undefined;
  try {
    for (const nic of spec.nics) {
      if (nic.kind !== 'tap') continue;
      const tap: TapRef = spec.netns === undefined ? { name: nic.ifname } : { name: nic.ifname, netns: spec.netns };
      await createTap(tap, nic.bridge, o, nic.vlan);
      taps.push(tap);
    }
    const argv = buildQemuArgv(spec, { accel: o.accel, paths, ...(o.incoming === true ? { paused: o.autostart !== true, incoming: 'defer' } : {}) });
    await launchQemu('qemu-system-x86_64', argv, spec.netns, o);
    pid = await readPidFile(paths.pidFile);
    if (pid === undefined) throw new Error(`QEMU of ${spec.id} wrote no pid file`);
    const qmp = await QmpClient.connect(paths.qmpSocket, { signal: o.signal, timeoutMs: 10_000 });
    return { spec, paths, pid, qmp, taps };
  } catch (err) {
    if (pid !== undefined) await ensureQemuGone(pid, spec.id, { timeoutMs: 0 }).catch(() => {});
    for (const t of taps) await deleteTap(t).catch(() => {});
    await rm(paths.dir, { recursive: true, force: true });
    throw err;
  }
}

/** `quit`, then SIGKILL by pid if it lingers (only once /proc proves it is this VM's QEMU); its TAPs and files go too. */
export async function stopRawQemu(q: RawQemu): Promise<void> {
  if (!q.qmp.closed) await q.qmp.execute('quit', undefined, { timeoutMs: 3_000 }).catch(() => {});
  await ensureQemuGone(q.pid, q.spec.id, { timeoutMs: 5_000 });
  q.qmp.close();
  for (const t of q.taps) await deleteTap(t);
  await rm(q.paths.dir, { recursive: true, force: true });
}

export interface RawBootOptions extends WaitOptions {
  readonly accel: 'kvm' | 'tcg';
  readonly runDir: string;
  /** Where the overlay and config drive are made (untimed). */
  readonly dir: string;
  readonly memoryMiB: number;
  /**
   * NICs the guest gets beyond what the config drive configures (none by default): the provision bench gives the
   * raw guest the NIC nubo gives a VM whose template names no network, so that both boot the same device model.
   */
  readonly nics?: readonly NicSpecInput[];
}

/**
 * The raw counterpart of a provision: the same nubo-tiny image, prepared
 * beforehand (overlay and config drive, untimed), then QEMU launched by hand
 * and timed to the guest's `NUBO-READY <id>` line, read from the serial log
 * the way the nubo side is read (same poll). Everything is removed after.
 */
export async function rawBootToReady(image: TinyImage, id: string, o: RawBootOptions): Promise<number> {
  return (await rawBoot(image, id, o)).readyMs;
}

/** {@link rawBootToReady}, with the time QEMU ran the guest (its QMP answering, the guest started) too. */
export async function rawBoot(image: TinyImage, id: string, o: RawBootOptions): Promise<{ readonly runningMs: number; readonly readyMs: number }> {
  const input = await prepareTinyVm({ image, dir: o.dir, id, memoryMiB: o.memoryMiB });
  const spec = parseVmSpec({ ...input, nics: [...(input.nics ?? []), ...(o.nics ?? [])] });
  try {
    const t0 = performance.now();
    const q = await startRawQemu(spec, o);
    const runningMs = performance.now() - t0;
    try {
      await waitForConsole(q.paths.serialLog, `NUBO-READY ${id}`, { timeoutMs: o.timeoutMs ?? 300_000, ...(o.signal ? { signal: o.signal } : {}) });
      return { runningMs, readyMs: performance.now() - t0 };
    } finally {
      await stopRawQemu(q);
    }
  } finally {
    for (const d of spec.disks) await rm(d.path, { force: true });
    if (spec.configDrive !== undefined) await rm(spec.configDrive, { force: true });
  }
}
