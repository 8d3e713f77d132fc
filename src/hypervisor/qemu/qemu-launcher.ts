import { chmod, mkdir, open, rm } from 'node:fs/promises';
import type { StartOptions, VmStatus } from '../hypervisor.js';
import { HypervisorError } from '../hypervisor-errors.js';
import type { VmSpec } from '../vm-spec.js';
import { ValidationError } from '../../errors/validation-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { createTap, deleteTap, type TapRef } from '../../network/tap-device.js';
import { buildQemuArgv } from './build-qemu-argv.js';
import { vmPaths } from './vm-paths.js';
import { endUnregisteredQemu, launchQemu, readPidFile } from './qemu-process.js';
import { writeVmRecord, type VmRecord } from './vm-record.js';
import type { LiveVm, QemuRegistry } from './qemu-registry.js';
import { QemuPidFileMissingError, StateRestoreFailedError } from './qemu-errors.js';
import { ENDED_MIGRATION } from './ended-migration.js';
import type { QmpMigrationStatus } from './qmp-schema.js';
import { waitDefault as opt } from './wait-default.js';
import { warmPageCache } from './warm-page-cache.js';
import { readRamStateHeader, type RamStateHeader } from './ram-state-header.js';
import type { FdSender, HeldMemfd, RamCopyResult } from './fd-sender.js';
import { setCapabilities } from './qmp-migration-settings.js';
import { keepFileTail } from '../../util/file-tail.js';
import { CONSOLE_LOG_MAX_BYTES } from '../../core/console-log.js';

/** The name the state file's descriptor has in a restoring QEMU between `getfd` and `migrate-incoming` (format 2). */
export const RESTORE_FDNAME = 'nubo-restore';

/** The descriptor a restoring QEMU reads its saved state from (the first after stdin, stdout and stderr). */
export const STATE_FD = 3;

/** How a VM's QEMU is started: fresh, from a saved state file, or waiting for a live migration's stream. */
// sender: the fd sender, which makes the guest's RAM memfd (every mode; without it QEMU makes its own, which cannot
// take huge pages: heldRam below) and fills a format-2 file's RAM (ram-state-header.ts; without it only format 1 restores).
export type LaunchMode =
  | { readonly kind: 'start'; readonly sender?: FdSender | undefined }
  | { readonly kind: 'restore'; readonly statePath: string; readonly sender?: FdSender | undefined }
  // autostart: no `-S`, QEMU runs the guest itself once the incoming stream completed (resume on completion).
  | { readonly kind: 'incoming'; readonly autostart?: boolean | undefined; readonly sender?: FdSender | undefined };

/**
 * Starts one VM's QEMU (its TAPs, record, daemonised process, QMP
 * connection) and registers it; a restore waits until the whole state is
 * read. The spec was admitted by the RuntimeHypervisor (files allowed, id
 * claimed). Anything that fails leaves nothing behind.
 */
export async function launchQemuVm(reg: QemuRegistry, spec: VmSpec, mode: LaunchMode, opts: StartOptions): Promise<VmStatus> {
  const statePath = mode.kind === 'restore' ? mode.statePath : undefined;
  if (mode.kind === 'restore') {
    const tHeader = performance.now();
    const read = await readRamStateHeader(mode.statePath).catch((err: unknown) => {
      throw new HypervisorError(spec.id, 'restore', errorMessage(err), { cause: err });
    });
    if (read.kind === 'invalid') throw new HypervisorError(spec.id, 'restore', `the state file is not whole: ${read.reason}`, { cause: new StateRestoreFailedError('invalid', read.reason) });
    if (read.kind === 'v2') return launchRamRestore(reg, spec, mode, read.header, opts, tHeader);
  }
  const ram = await heldRam(reg, spec, mode.sender, opts);
  // The saved state is read from the disk while QEMU starts, so that its load reads the page cache.
  const warming = new AbortController();
  const warm = statePath !== undefined ? warmPageCache(statePath, warming.signal) : undefined;
  try {
    return await launch(reg, spec, mode, statePath, opts, undefined, ram?.path);
  } finally {
    warming.abort();
    await warm;
    if (ram !== undefined) await releaseHeldRam(reg, spec, mode.sender, ram);
  }
}

/**
 * The guest's RAM as a memfd the fd sender makes, which QEMU opens as `memory-backend-file` with align=2M: QEMU maps
 * its own `memory-backend-memfd` at the file's page size, 4 KiB off a 2 MiB boundary as often as not, where it can
 * take no transparent huge pages whatever the policy (that backend has no `align`). Undefined — QEMU then makes its
 * own memfd — when there is no sender or it cannot make one: a VM boots without huge pages rather than not at all.
 */
async function heldRam(reg: QemuRegistry, spec: VmSpec, sender: FdSender | undefined, opts: StartOptions): Promise<HeldMemfd | undefined> {
  if (sender === undefined) return undefined;
  try {
    return await sender.createMemfd(spec.memoryMiB * 1024 * 1024, opt(opts, 10_000));
  } catch (err) {
    if (opts.signal?.aborted === true) throw new HypervisorError(spec.id, 'start', errorMessage(err), { cause: err });
    reg.log.warn({ vmId: spec.id, err: errorMessage(err) }, 'the fd sender made no memfd for the guest RAM: QEMU makes its own (no huge pages)');
    return undefined;
  }
}

/** The sender's descriptor closed once QEMU holds its own (or failed to start): one memfd per VM is never left in it. */
async function releaseHeldRam(reg: QemuRegistry, spec: VmSpec, sender: FdSender | undefined, ram: HeldMemfd): Promise<void> {
  await sender?.releaseMemfd(ram, opt({}, 5_000)).catch((err: unknown) => reg.log.warn({ vmId: spec.id, err: errorMessage(err) }, 'the fd sender did not release a guest RAM memfd'));
}

/**
 * A restore of format 2: the fd sender makes a memfd of the guest's RAM size
 * and fills it from the state file (O_DIRECT, in parallel) while QEMU starts
 * with that memfd as its RAM (`memory-backend-file` on its /proc path) and
 * `-incoming defer`; once both are done QEMU reads the device stream alone
 * (x-ignore-shared, the file's descriptor handed over `getfd` and positioned
 * at the stream) — the RAM must be whole first: devices read guest memory as
 * they load (virtio's rings). The sender's descriptor is closed at the end
 * whatever happens (QEMU keeps its own).
 */
async function launchRamRestore(reg: QemuRegistry, spec: VmSpec, mode: LaunchMode & { kind: 'restore' }, header: RamStateHeader, opts: StartOptions, tHeader: number): Promise<VmStatus> {
  const sender = mode.sender;
  if (sender === undefined) throw new HypervisorError(spec.id, 'restore', 'the state file is of format 2, whose RAM only the fd sender (python3) reads; this agent runs without it');
  if (header.ramBytes !== spec.memoryMiB * 1024 * 1024) throw new HypervisorError(spec.id, 'restore', `the state file holds ${header.ramBytes} bytes of RAM, the VM has ${spec.memoryMiB} MiB`);
  const fp = reg.opts.failpoints;
  const t0 = performance.now();
  let memfd: HeldMemfd;
  try {
    memfd = await sender.createMemfd(header.ramBytes, opt(opts, 10_000));
  } catch (err) {
    throw new HypervisorError(spec.id, 'restore', errorMessage(err), { cause: err });
  }
  const memfdAt = performance.now();
  let filledAt = 0;
  const fill = (async () => {
    // Tests end the agent or fail the fill here (`qemu.restore.ram-fill`): the file is kept and a retry restores.
    await fp?.hit('qemu.restore.ram-fill');
    const r = await sender.fillMemfd(memfd, { path: mode.statePath, offset: header.ramOffset, bytes: header.ramBytes, threads: reg.opts.ramCopyThreads, prefetch: [header.devOffset, header.devBytes] }, opt(opts, 300_000));
    filledAt = performance.now();
    return r;
  })();
  // Not released here on a failure, though a hand-over waiting for the fill (afterFill) is refused only by the release
  // below: QEMU may not have opened it yet. The restore fails at once on the fill's error all the same (Promise.all).
  fill.catch(() => {});
  try {
    return await launch(reg, spec, mode, undefined, opts, { header, statePath: mode.statePath, memfd, fill, sender, t0, headerMs: t0 - tHeader, memfdMs: memfdAt - t0, filledAt: () => filledAt });
  } finally {
    // Never while the fill may still write into it (the descriptor's number could be another's by then).
    await fill.catch(() => undefined);
    await sender.releaseMemfd(memfd, opt({}, 5_000)).catch((err: unknown) => reg.log.warn({ vmId: spec.id, err: errorMessage(err) }, 'the fd sender did not release a restore\'s memfd'));
  }
}

interface RamRestore {
  readonly header: RamStateHeader;
  readonly statePath: string;
  readonly memfd: HeldMemfd;
  readonly fill: Promise<RamCopyResult>;
  readonly sender: FdSender;
  readonly t0: number;
  /** Before the fill: the header's read, and the sender's memfd (from t0). */
  readonly headerMs: number;
  readonly memfdMs: number;
  readonly filledAt: () => number;
}

async function launch(reg: QemuRegistry, spec: VmSpec, mode: LaunchMode, statePath: string | undefined, opts: StartOptions, ram?: RamRestore, ramPath?: string): Promise<VmStatus> {
  const tPrep = performance.now();
  const paths = vmPaths(reg.opts.runDir, spec.id);
  await rm(paths.dir, { recursive: true, force: true });
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const taps: TapRef[] = [];
  try {
    if (spec.consoleLog !== undefined) await prepareConsoleLog(spec.consoleLog);
    for (const nic of spec.nics) {
      if (nic.kind !== 'tap') continue;
      const tap: TapRef = spec.netns === undefined ? { name: nic.ifname } : { name: nic.ifname, netns: spec.netns };
      await createTap(tap, nic.bridge, opt(opts, 10_000), nic.vlan);
      taps.push(tap);
    }
    const record: VmRecord = { spec, taps, startedAt: new Date().toISOString() };
    await writeVmRecord(paths.record, record);
    const argv = buildQemuArgv(spec, {
      accel: reg.accel,
      paths,
      paused: opts.paused === true || (mode.kind !== 'start' && !(mode.kind === 'incoming' && mode.autostart === true)),
      ...(ramPath !== undefined ? { ramPath } : {}),
      // QEMU reads the saved state straight from the file it inherits as fd 3: no shell, no `cat`, no pipe between.
      ...(statePath !== undefined ? { incoming: `fd:${STATE_FD}`, migrationEvents: true } : mode.kind === 'incoming' ? { incoming: 'defer' } : {}),
      // Format 2: the RAM the fd sender fills meanwhile; the device stream is asked for once it is full.
      ...(ram !== undefined ? { incoming: 'defer', migrationEvents: true, ramPath: ram.memfd.path } : {}),
    });
    const state = statePath !== undefined ? await open(statePath, 'r') : undefined;
    const t0 = performance.now();
    try {
      // Never the caller's signal: killing the daemonising parent half-way leaves its forked child running unknown to
      // anyone, holding the disk's write lock (the next start of the VM then failed on it). The command ends by itself
      // within its own deadline; a caller that gave up meanwhile is answered after it (connect below), and a launch
      // that fails anywhere is cleaned up below, its QEMU included.
      await launchQemu(reg.opts.qemuBinary, argv, spec.netns, { timeoutMs: opts.timeoutMs ?? 30_000, ...(state ? { fds: [state.fd] } : {}) });
    } finally {
      await state?.close();
    }
    const t1 = performance.now();
    // Tests hold or fail a launch here: QEMU runs, but the driver does not hold it yet.
    await reg.opts.failpoints?.hit('qemu.launched');
    const pid = await readPidFile(paths.pidFile);
    if (pid === undefined) throw new QemuPidFileMissingError(paths.pidFile);
    // -daemonize sets QEMU's umask to 027: the guest's console log and the control sockets would be group-readable.
    await Promise.all([spec.consoleLog ?? paths.serialLog, paths.qmpSocket, paths.fdpassSocket, paths.consoleSocket, paths.vncSocket].map((p) => chmod(p, 0o600).catch(() => undefined)));
    const starting = mode.kind !== 'start' ? 'inmigrate' : opts.paused === true ? 'paused' : 'running';
    const vm: LiveVm = { record, paths, pid, qmp: undefined, exit: undefined, guestShutdown: false, ending: false, starting };
    reg.add(vm);
    await reg.connect(vm, opts);
    vm.starting = undefined;
    // Where a start's time went: QEMU's own start (until it daemonised), then until its QMP answered. A restore's load
    // runs on QEMU's main loop, reading a file that never blocks, so its QMP answers only once the load is (nearly)
    // done: its connectMs is mostly the load, and the loadMs logged below only the rest.
    reg.log.info({ vmId: spec.id, pid, accel: reg.accel, mode: mode.kind, prepMs: Math.round(t0 - tPrep), launchMs: Math.round(t1 - t0), connectMs: Math.round(performance.now() - t1) }, 'vm started');
  } catch (err) {
    if (reg.has(spec.id)) {
      await reg.destroy(spec.id, {}).catch(() => {});
    } else {
      // A QEMU that daemonised but was never registered (its parent timed out, the pid file was unreadable, a step
      // after the launch failed) is ended before its files go: left alone it would keep the disk locked.
      await endUnregisteredQemu(paths.pidFile, spec.id).catch((e: unknown) => reg.log.error({ vmId: spec.id, err: errorMessage(e) }, 'could not end the QEMU of a failed launch'));
      for (const t of taps) await deleteTap(t).catch(() => {});
      await rm(paths.dir, { recursive: true, force: true });
    }
    if (err instanceof ValidationError) throw err;
    throw new HypervisorError(spec.id, mode.kind === 'incoming' ? 'start incoming' : mode.kind, errorMessage(err), { cause: err });
  }

  const vm = reg.get(spec.id);
  if (ram !== undefined) {
    const t2 = performance.now();
    const qmp = reg.qmp(vm);
    await Promise.resolve(reg.opts.failpoints?.hit('qemu.restore')).then(async () => {
      // Set while the fill runs; the device stream is asked for only once the RAM is whole.
      await setCapabilities(qmp, { 'x-ignore-shared': true }, opt(opts, 5_000));
      const capsAt = performance.now();
      const loaded = qmp.waitForEvent('MIGRATION', { ...opt(opts, 420_000), match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
      loaded.catch(() => {});
      const t3 = performance.now();
      // Handed over now, run by the sender as soon as the fill ends (afterFill): connecting, greeting and getfd
      // are done meanwhile, not after the fill. A failed fill refuses it (not sent), and is what the restore reports.
      let sentAt = 0;
      const sent = ram.sender.send({ socket: vm.paths.fdpassSocket, path: ram.statePath, fdname: RESTORE_FDNAME, read: true, seek: ram.header.devOffset, afterFill: ram.memfd, command: { execute: 'migrate-incoming', arguments: { uri: `fd:${RESTORE_FDNAME}` } } }, opt(opts, 310_000))
        .then(() => void (sentAt = performance.now()));
      const [filled] = await Promise.all([ram.fill, sent]);
      const ev = await loaded;
      if (ev.data['status'] !== 'completed') throw new StateRestoreFailedError(String(ev.data['status']));
      const loadedAt = performance.now();
      // Where the time went, from the header's read (ms): what a resume's fixed cost is made of (bench/suspend.ts).
      const at = (t: number): number => Math.round((t - ram.t0 + ram.headerMs) * 10) / 10;
      reg.log.info({
        vmId: spec.id, storedRamBytes: filled.bytes, direct: filled.direct, fillMs: Math.round(ram.filledAt() - ram.t0), launchedMs: Math.round(t2 - ram.t0), devMs: Math.round(performance.now() - Math.max(t3, ram.filledAt())),
        timeline: { header: at(ram.t0), memfd: at(ram.t0 + ram.memfdMs), connected: at(t2), caps: at(capsAt), filled: at(ram.filledAt()), incomingSent: at(sentAt), loaded: at(loadedAt) },
      }, 'vm state of format 2 loaded');
    }).catch(async (err: unknown) => {
      await reg.destroy(spec.id, {}).catch(() => {});
      throw new HypervisorError(spec.id, 'restore', errorMessage(err), { cause: err });
    });
    // x-ignore-shared off again, sent with `cont` in one go rather than a round trip before it: QEMU runs them in
    // order, and nothing depends on it being off but a live migration or a save, each of which sets it explicitly
    // (qemu-live-migration.ts, qmp-save-state.ts, ram-state-save.ts) — so its failure is only told, never fatal.
    const off = setCapabilities(qmp, { 'x-ignore-shared': false }, opt(opts, 5_000))
      .catch((err: unknown) => reg.log.warn({ vmId: spec.id, err: errorMessage(err) }, 'x-ignore-shared not set off after a restore'));
    // Tests end the agent here (`qemu.restore.loaded`): the whole state is in, the guest stopped, the file kept.
    await reg.opts.failpoints?.hit('qemu.restore.loaded');
    if (opts.paused !== true) await qmp.execute('cont', undefined, opt(opts, 5_000));
    await off;
    reg.log.info({ vmId: spec.id, format: 2, loadMs: Math.round(performance.now() - t2), sinceHeaderMs: Math.round((performance.now() - ram.t0 + ram.headerMs) * 10) / 10 }, 'vm restored');
    await reg.opts.failpoints?.hit('qemu.restored');
  }
  if (statePath !== undefined) {
    const t2 = performance.now();
    // The incoming side reaches `paused` once the whole state has been read — told by QEMU's MIGRATION event (on from
    // its start: `migrationEvents`), not polled for; one that came before QMP was connected shows in the run state.
    // Saved while stopped, the VM is not started by QEMU itself (no autostart): `cont` below runs it.
    // Tests end QEMU here (`qemu.restore`): a restore whose process dies must fail, not wait.
    await Promise.resolve(reg.opts.failpoints?.hit('qemu.restore')).then(async () => {
      const qmp = reg.qmp(vm);
      const loaded = qmp.waitForEvent('MIGRATION', { ...opt(opts, 120_000), match: (e) => ENDED_MIGRATION.has(e.data['status'] as QmpMigrationStatus) });
      loaded.catch(() => {});
      const s = await qmp.execute('query-status', undefined, opt(opts, 5_000));
      if (s.status !== 'inmigrate') return;
      const ev = await loaded;
      if (ev.data['status'] !== 'completed') throw new StateRestoreFailedError(String(ev.data['status']));
    }).catch(async (err: unknown) => {
      await reg.destroy(spec.id, {}).catch(() => {});
      throw new HypervisorError(spec.id, 'restore', errorMessage(err), { cause: err });
    });
    await reg.opts.failpoints?.hit('qemu.restore.loaded');
    if (opts.paused !== true) await reg.qmp(vm).execute('cont', undefined, opt(opts, 5_000));
    reg.log.info({ vmId: spec.id, loadMs: Math.round(performance.now() - t2) }, 'vm restored');
    // Tests end the agent here (`qemu.restored`): the guest runs from the state file, which is not removed yet.
    await reg.opts.failpoints?.hit('qemu.restored');
  }
  return reg.status(spec.id, opts);
}

/**
 * A kept console log (the spec's `consoleLog`), which this launch's QEMU appends to: cut to its last
 * CONSOLE_LOG_MAX_BYTES when it grew over them (no QEMU writes to it now), and made before QEMU so that it is 0600 —
 * a daemonised QEMU's umask (027) would make it group-readable.
 */
async function prepareConsoleLog(path: string): Promise<void> {
  await keepFileTail(path, CONSOLE_LOG_MAX_BYTES);
  await (await open(path, 'a', 0o600)).close();
}
