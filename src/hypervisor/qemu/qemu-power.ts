import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RebootOptions, RebootResult, SaveResult, ShutdownResult, VmStats } from '../hypervisor.js';
import { HypervisorError, VmStateError } from '../hypervisor-errors.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';
import { qmpSaveState, type SaveViaFd } from './qmp-save-state.js';
import { FdSender } from './fd-sender.js';
import { commitStateFile, removeAttemptFiles, saveAttemptFiles, waitWriterExit } from './state-file-writer.js';
import { readSaveMarker, SAVE_MARKER, writeSaveMarker } from './save-marker.js';
import { settleMigration } from './settle-migration.js';
import { readQemuVmStats } from './qemu-vm-stats.js';
import type { QemuRegistry } from './qemu-registry.js';
import { waitDefault as opt } from './wait-default.js';
import { findGuestMemfd, qmpSaveRamState, type SavedRamState } from './ram-state-save.js';
import { readRamStateHeader } from './ram-state-header.js';
import { setCapabilities } from './qmp-migration-settings.js';

/** How often a graceful shutdown or reboot presses the ACPI power button again while the guest has not answered. */
export const ACPI_REPRESS_MS = 3_000;

/** Power actions on a held QEMU VM, each allowed from the states the RuntimeHypervisor checked. */
export class QemuPower {
  readonly #reg: QemuRegistry;
  /** Hands a saving QEMU its state file (fd mode); one for the whole driver, started by `warmUp` (or by a save). */
  readonly #fdSender: FdSender | undefined;

  constructor(reg: QemuRegistry) {
    this.#reg = reg;
    this.#fdSender = reg.opts.python === false ? undefined : new FdSender({ python: reg.opts.python, logger: reg.log });
  }

  /**
   * Starts the fd sender now, in the background, so that the first save does not pay Python's start (~25–70 ms) on
   * its path; a sender that cannot start is started again (or given up on) by the save itself.
   */
  warmUp(): void {
    this.#fdSender?.start().catch((err: unknown) => this.#reg.log.warn({ err: errorMessage(err) }, 'the fd sender did not start; saves will try again or use the exec: writer'));
  }

  /** The fd sender (undefined when the driver has no Python): a restore of format 2 fills its RAM through it. */
  get fdSender(): FdSender | undefined {
    return this.#fdSender;
  }

  /** Ends the fd sender's child. */
  async close(): Promise<void> {
    await this.#fdSender?.close();
  }

  async shutdown(vmId: string, opts: WaitOptions): Promise<ShutdownResult> {
    const vm = this.#reg.get(vmId);
    const { state } = await this.#reg.status(vmId, opts);
    let clean = false;
    if (state === 'running') {
      vm.ending = true;
      const qmp = this.#reg.qmp(vm);
      let isGone = false;
      const gone = new Promise<void>((resolve) => qmp.onClose(() => { isGone = true; resolve(); }));
      await qmp.execute('system_powerdown', undefined, opt(opts, 5_000));
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      // A press the guest was not listening for yet (still booting: no ACPI button driver, no watcher) is lost, not queued;
      // pressed again every few seconds, like OpenStack's clean shutdown, a guest that boots meanwhile still shuts down cleanly.
      for (;;) {
        const wait = Math.min(ACPI_REPRESS_MS, deadline - Date.now());
        if (wait <= 0) break;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([gone, new Promise<void>((resolve) => (timer = setTimeout(resolve, wait)))]);
        clearTimeout(timer);
        if (isGone || Date.now() >= deadline) break;
        await qmp.execute('system_powerdown', undefined, opt(opts, 5_000)).catch((err: unknown) => this.#reg.log.debug({ vmId, err: errorMessage(err) }, 'ACPI power button pressed again: no answer'));
      }
      clean = isGone;
    } else if (state === 'shutoff') {
      clean = true;
    }
    await this.#reg.destroy(vmId, opts);
    this.#reg.log.info({ vmId, clean }, 'vm shut down');
    return { clean };
  }

  async reboot(vmId: string, opts: RebootOptions): Promise<RebootResult> {
    const vm = this.#reg.get(vmId);
    const qmp = this.#reg.qmp(vm);
    const log = this.#reg.log;
    const reset = async (reason: string): Promise<RebootResult> => {
      await qmp.execute('system_reset', undefined, opt(opts, 5_000));
      log.warn({ vmId, reason }, 'vm reset');
      return { clean: false, reason };
    };
    if (opts.hard === true) return reset('a hard reboot (reset) was asked for');
    const { state } = await this.#reg.status(vmId, opts);
    if (state !== 'running') return reset(`the guest is ${state}: it cannot act on the ACPI power button`);
    const graceMs = opts.graceMs ?? 60_000;
    // The guest's own power-off must not end the process: paused in QEMU's `shutdown` state the VM keeps its
    // devices, TAPs and pid, and a reset plus `cont` boots it again.
    await qmp.execute('set-action', { shutdown: 'pause' }, opt(opts, 5_000));
    try {
      await qmp.execute('system_powerdown', undefined, opt(opts, 5_000));
      let pressedAt = Date.now();
      const down = await pollUntil(
        `guest shutdown of ${vmId}`,
        async () => {
          if ((await qmp.execute('query-status', undefined, opt(opts, 5_000))).status === 'shutdown') return true;
          // Pressed again now and then: a guest still booting missed the first press (see shutdown).
          if (Date.now() - pressedAt >= ACPI_REPRESS_MS) {
            pressedAt = Date.now();
            await qmp.execute('system_powerdown', undefined, opt(opts, 5_000));
          }
          return undefined;
        },
        { signal: opts.signal, timeoutMs: graceMs, intervalMs: 200 },
      ).catch((err: unknown) => {
        if (err instanceof TimeoutError && opts.signal?.aborted !== true) return false;
        throw err;
      });
      if (!down) return await reset(`the guest did not shut down within ${graceMs / 1000} s of the ACPI power button`);
      // From `shutdown` a reset leaves the VM in `prelaunch`; `cont` boots it.
      await qmp.execute('system_reset', undefined, opt(opts, 5_000));
      await qmp.execute('cont', undefined, opt(opts, 5_000));
      // Its SHUTDOWN event marked the coming process exit as a guest power-off; this one was not followed by an exit.
      vm.guestShutdown = false;
      log.info({ vmId }, 'vm rebooted (the guest shut down by itself)');
      return { clean: true };
    } finally {
      // Back to the default, so that a guest that powers itself off later ends its process as always.
      await qmp.execute('set-action', { shutdown: 'poweroff' }, opt({}, 5_000)).catch((err: unknown) => log.warn({ vmId, err }, 'could not restore the shutdown action'));
    }
  }

  async pause(vmId: string, opts: WaitOptions): Promise<void> {
    await this.#reg.qmp(this.#reg.get(vmId)).execute('stop', undefined, opt(opts, 5_000));
  }

  async resume(vmId: string, opts: WaitOptions): Promise<void> {
    await this.#reg.qmp(this.#reg.get(vmId)).execute('cont', undefined, opt(opts, 5_000));
  }

  async save(vmId: string, statePath: string, opts: WaitOptions): Promise<SaveResult> {
    const vm = this.#reg.get(vmId);
    const qmp = this.#reg.qmp(vm);
    const log = this.#reg.log;
    const began = Date.now();
    const fp = this.#reg.opts.failpoints;
    const markerPath = join(vm.paths.dir, SAVE_MARKER);
    // What an earlier save of this process, whose agent died, left: its attempt's token and whether the VM ran before it.
    const marker = await readSaveMarker(markerPath);
    // Its stream may still run (the writer does not need the agent): its end is waited for before anything is decided.
    const last = marker !== undefined ? await settleMigration(qmp, opt(opts, 60_000)) : undefined;
    let { state } = await this.#reg.status(vmId, opts);
    if (state === 'postmigrate') {
      // A live migration's source keeps its record until it is released: its memory lives on elsewhere, and a saved
      // copy of it would be a second VM.
      if (vm.record.migration !== undefined) throw new VmStateError(vmId, 'save', state, 'its memory was migrated away; a saved copy would be a second VM');
      // Otherwise an earlier save of this process streamed all it had (QEMU sits in postmigrate after it) and its
      // agent died before it ended QEMU: a retry of the same suspend. A file under the final name was renamed only
      // once durable and whole, so that save is done but for ending QEMU.
      const done = await stat(statePath).catch(() => undefined);
      if (done !== undefined) {
        await this.#reg.destroy(vmId, opts);
        log.warn({ vmId, bytes: done.size }, 'an interrupted save had written its state file; its QEMU is ended now');
        return { bytes: done.size, durationMs: Date.now() - began };
      }
      // Its agent died before the rename: QEMU completed that attempt's stream, and once its writer exited 0 the part
      // file is all of it, on the disk — only both prove it whole. Finished from it, not saved again.
      if (marker !== undefined && last === 'completed') {
        const files = saveAttemptFiles(statePath, marker.token);
        // No part file: that attempt never streamed (the completed migration was an older one's); nothing to wait for.
        const started = await stat(files.part).catch(() => undefined);
        // fd mode: QEMU wrote the part itself and reported `completed` only after its last write returned, so the part
        // is all of it (in the page cache: the commit makes it durable). exec mode: its writer must have exited 0 too.
        const fdMode = marker.mode === 'fd';
        // ram mode (format 2): QEMU's `completed` was its device stream only; the part is whole once its header is
        // there (written last, after an fdatasync of the rest), valid and complete.
        const ramMode = marker.mode === 'ram';
        const rc = started === undefined || fdMode || ramMode ? undefined : await waitWriterExit(files.rc, opt(opts, 60_000)).catch(() => undefined);
        const part = await stat(files.part).catch(() => undefined);
        const whole = part === undefined ? false
          : ramMode ? (await readRamStateHeader(files.part).catch(() => undefined))?.kind === 'v2'
          : fdMode ? part.size > 0 : rc === 0;
        if (part !== undefined && whole) {
          const bytes = await commitStateFile(files.part, statePath);
          await removeAttemptFiles(statePath);
          await fp?.hit('qemu.save.written');
          await this.#reg.destroy(vmId, opts);
          log.warn({ vmId, bytes, mode: marker.mode ?? 'exec' }, 'an interrupted save had streamed all of its state; its file is committed and its QEMU ended now');
          return { bytes, durationMs: Date.now() - began };
        }
        log.warn({ vmId, rc, part: part?.size, mode: marker.mode ?? 'exec' }, 'an interrupted save completed in QEMU but its writer did not make the file whole; saving again');
      }
      // Its file never became durable: saved again. QEMU handed its disks over at the end of the stream (inactive)
      // and cannot stream them twice so; `cont` takes them back — the guest runs for the moment until `stop` below,
      // which is as if that save had never been asked for.
      log.warn({ vmId }, 'an interrupted save left QEMU in postmigrate without a durable file; saving again');
      await qmp.execute('cont', undefined, opt(opts, 5_000));
      // That save may have been of format 2 (x-ignore-shared on): off while the guest runs, whatever comes next.
      await setCapabilities(qmp, { 'x-ignore-shared': false }, opt(opts, 5_000));
      state = 'running';
    }
    // Paused by a save its agent did not see to the end (the marker says it ran before): a failure of this one must
    // run it again as that one would have — the controller holds it running.
    const wasRunning = state === 'running' || marker?.wasRunning === true;
    const token = randomBytes(8).toString('hex');
    await removeAttemptFiles(statePath);
    // fd mode (QEMU writes the file itself) for a QEMU started with the fd-passing monitor; one started before it
    // existed (adopted from an older agent) keeps the exec: writer.
    const fdpass = this.#fdSender !== undefined && (await stat(vm.paths.fdpassSocket).catch(() => undefined))?.isSocket() === true;
    // Format 2 (the guest's RAM copied by the fd sender) for a QEMU whose RAM is a memfd; one without (adopted from an
    // older agent) is saved as before.
    const ramBytes = vm.record.spec.memoryMiB * 1024 * 1024;
    const memfd = fdpass && this.#reg.opts.saveFormat === 'ram' ? await findGuestMemfd(vm.pid, ramBytes) : undefined;
    await writeSaveMarker(markerPath, { token, wasRunning, mode: memfd !== undefined ? 'ram' : fdpass ? 'fd' : 'exec' });
    const via: SaveViaFd | undefined = fdpass && this.#fdSender !== undefined ? {
      sender: this.#fdSender,
      socket: vm.paths.fdpassSocket,
      onFallback: async (err) => {
        log.warn({ vmId, err: errorMessage(err) }, 'the fd sender could not hand QEMU the state file; this save goes through the exec: writer');
        await writeSaveMarker(markerPath, { token, wasRunning, mode: 'exec' });
      },
    } : undefined;
    const t0 = performance.now();
    // Stopped first, so that the state written is one consistent instant and the migration needs one pass.
    if (state === 'running') await qmp.execute('stop', undefined, opt(opts, 5_000));
    const t1 = performance.now();
    if (memfd !== undefined && this.#fdSender !== undefined) {
      let ram: SavedRamState | undefined;
      try {
        // Tests end QEMU here (`qemu.save`), as in format 1.
        await fp?.hit('qemu.save');
        const hooks = fp === undefined ? {} : { onRamCopy: () => fp.hit('qemu.save.ram-copy'), onDeviceStream: () => fp.hit('qemu.save.device-stream'), onReceived: () => fp.hit('qemu.save.received') };
        ram = await qmpSaveRamState(qmp, statePath, token, { sender: this.#fdSender, socket: vm.paths.fdpassSocket, memfd, ramBytes, threads: this.#reg.opts.ramCopyThreads }, opt(opts, 300_000), hooks);
      } catch (err) {
        // Never a failed suspend because of format 2: QEMU still holds everything (the copy only reads its RAM, and a
        // failed device stream is cancelled), so the save goes on as before — unless it was called off, or QEMU is gone.
        if (opts.signal?.aborted === true || !this.#reg.has(vmId) || vm.exit !== undefined) {
          if (wasRunning) await qmp.execute('cont', undefined, opt({}, 5_000)).catch(() => undefined);
          await rm(markerPath, { force: true });
          throw new HypervisorError(vmId, 'save', errorMessage(err), { cause: err });
        }
        log.warn({ vmId, err: errorMessage(err) }, 'the save of format 2 failed; this save goes the way of format 1');
        // A stream that completed before the failure (the header's write) left the disks to the destination that never
        // came: `cont` takes them back, `stop` holds the guest again.
        try {
          if ((await this.#reg.status(vmId, opts)).state === 'postmigrate') {
            await qmp.execute('cont', undefined, opt(opts, 5_000));
            await qmp.execute('stop', undefined, opt(opts, 5_000));
          }
          await writeSaveMarker(markerPath, { token, wasRunning, mode: fdpass ? 'fd' : 'exec' });
        } catch (e) {
          await rm(markerPath, { force: true });
          throw new HypervisorError(vmId, 'save', `the save of format 2 failed (${errorMessage(err)}), and so did the way back to format 1: ${errorMessage(e)}`, { cause: e });
        }
      }
      if (ram !== undefined) {
        const t2 = performance.now();
        await fp?.hit('qemu.save.written');
        await this.#reg.destroy(vmId, opts);
        log.info({ vmId, mode: 'ram', bytes: ram.bytes, storedRamBytes: ram.storedRamBytes, devBytes: ram.devBytes, direct: ram.direct, stopMs: Math.round(t1 - t0), ramMs: Math.round(ram.ramMs), devMs: Math.round(ram.devMs), saveMs: Math.round(t2 - t1), endMs: Math.round(performance.now() - t2) }, 'vm saved');
        await fp?.hit('qemu.save.ended');
        return { bytes: ram.bytes, durationMs: Date.now() - began };
      }
    }
    let saved: Awaited<ReturnType<typeof qmpSaveState>>;
    try {
      // Tests end QEMU here (`qemu.save`): a save whose process dies must leave no state file behind.
      await fp?.hit('qemu.save');
      // And the agent mid-stream (`qemu.save.streaming`), or once QEMU completed but before the file is durable (`qemu.save.received`).
      // And the fd sender's request (`qemu.save.fd-send`: the sender is up, not asked yet).
      const hooks = fp === undefined ? {} : { onFirstWrite: () => fp.hit('qemu.save.streaming'), onReceived: () => fp.hit('qemu.save.received'), onFdSend: () => fp.hit('qemu.save.fd-send') };
      saved = await qmpSaveState(qmp, statePath, token, opt(opts, 300_000), hooks, via);
    } catch (err) {
      await rm(statePath, { force: true });
      // The save did not complete, so the VM's state never left: running it again is safe — once QEMU has finished
      // with the migration (`cont` is refused while it finalizes).
      if (wasRunning) {
        await settleMigration(qmp, opt({}, 10_000)).catch(() => undefined);
        await qmp.execute('cont', undefined, opt({}, 5_000)).catch((e: unknown) => log.error({ vmId, err: errorMessage(e) }, 'a failed save could not run the VM again'));
      }
      await rm(markerPath, { force: true });
      throw new HypervisorError(vmId, 'save', errorMessage(err), { cause: err });
    }
    const t2 = performance.now();
    // The file is whole and durable, QEMU not yet ended (`qemu.save.written`): a retry finds it so (see above).
    await fp?.hit('qemu.save.written');
    await this.#reg.destroy(vmId, opts);
    // Where a save's time went: the stop, QEMU's stream (its own count beside), the exec writer's end after it, the
    // commit (fdatasync, rename, directory), the end of QEMU.
    const ms = (a: number, b: number): number => Math.round(b - a);
    log.info({ vmId, mode: saved.mode, bytes: saved.bytes, stopMs: ms(t0, t1), streamMs: Math.round(saved.streamMs), qemuMs: saved.info['total-time'], writerMs: Math.round(saved.writerMs), saveMs: ms(t1, t2), endMs: ms(t2, performance.now()) }, 'vm saved');
    // All done but the answer (`qemu.save.ended`): the retry finds the VM suspended (VmLifecycle.suspend).
    await fp?.hit('qemu.save.ended');
    return { bytes: saved.bytes, durationMs: Date.now() - began };
  }

  async stats(vmId: string, opts: WaitOptions): Promise<VmStats> {
    return readQemuVmStats(this.#reg, this.#reg.get(vmId), opts);
  }
}
