import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import type { VmStatus } from '../hypervisor/hypervisor.js';
import { zodIssues } from '../hypervisor/vm-spec.js';
import { errorMessage } from '../errors/nubo-error.js';
import { ValidationError } from '../errors/validation-error.js';
import { runCommand } from '../util/run-command.js';
import { agentVmSpecSchema, type AgentRebootReport, type AgentVmReport } from '../contract/agent-api.js';
import { AgentConflictError } from './agent-conflict-error.js';
import type { AgentHost } from './agent-host.js';
import { ConsoleUnavailableError } from './console-unavailable-error.js';
import { sameSpecBesidesFirewall } from './vm-firewalls.js';
import { abortReason, deadline } from '../util/deadline.js';
import { unlinkBehind } from '../util/unlink-behind.js';
import { readFilesTail, utf8Tail } from '../util/file-tail.js';
import { writeFileAtomically } from '../util/write-file-atomically.js';
import { CONSOLE_LOG_MAX_BYTES, CONSOLE_TAIL_BYTES } from '../core/console-log.js';

/** The deadline of a start once it has begun (a restore reads a large state file first). */
const START_MS = 15 * 60_000;

/** How long a release waits for a dirty-rate measurement of the copy under way (QEMU's 1–10 s, and its answer read). */
const MEASUREMENT_WAIT_MS = 12_000;

/**
 * A VM's life on this host: prolog, boot, power-off, reboot, suspend,
 * epilog, what the heartbeat reports, and the adoption of running VMs after
 * a restart. Every operation is idempotent where a retry is likely (the
 * controller may crash and repeat a call): preparing a VM that is already
 * prepared with the same spec, starting a running VM, deleting a deleted VM.
 */
export class VmLifecycle {
  /** `activate`: finishes a live migration's activation (see adopt). */
  constructor(readonly host: AgentHost, private readonly activate: (id: string) => Promise<unknown>) {}

  /** Prolog: fetches the images, makes the VM's disk and config drive. */
  prepare(id: string, input: unknown, signal?: AbortSignal): Promise<AgentVmReport> {
    const r = agentVmSpecSchema.safeParse(input);
    if (!r.success) return Promise.reject(new ValidationError('VM spec', zodIssues(r.error)));
    const spec = r.data;
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      const p = vm.paths;
      const existing = await h.records.readSpec(id);
      if (existing) {
        if (!sameSpecBesidesFirewall(existing, spec)) throw new AgentConflictError({ vmId: id }, 'spec-mismatch', 'already prepared with a different spec');
        return vm.report();
      }
      const files = vm.files(spec);
      const interrupted = await h.records.readPreparing(id);
      if (interrupted !== undefined) {
        // A prepare of this VM that died half-way (agent killed in prolog): what it left holds no guest data
        // yet, so the retry starts over. Another spec under the same id is not ours to overwrite.
        if (!sameSpecBesidesFirewall(interrupted, spec)) throw new AgentConflictError({ vmId: id }, 'spec-mismatch', 'an interrupted prolog of this VM had a different spec');
        h.logger.warn({ vmId: id }, 'an interrupted prolog is started over');
        if (files.sharedDir !== undefined) await rm(files.sharedDir, { recursive: true, force: true });
        await rm(p.dir, { recursive: true, force: true });
      }
      // Both directories start empty, so that the clean-up below only ever deletes what this call made.
      await refuseFilesNotMade(id, files.sharedDir === undefined ? [p.dir] : [p.dir, files.sharedDir]);
      await mkdir(p.dir, { recursive: true });
      try {
        // First: whatever this call leaves behind if it is killed is known to be its own (see above).
        await writeFile(p.preparing, JSON.stringify(spec));
        if (files.sharedDir !== undefined) await mkdir(files.sharedDir, { recursive: true });
        // The config drive needs no image: it is written while the images come and the disk is made.
        // Both are awaited before anything throws, so that the clean-up below never races a write.
        const disk = (async () => {
          const base = await vm.ensureImages(spec, signal);
          const baseFormat = spec.disk.image.format === 'raw' ? 'raw' : 'qcow2';
          if (h.o.makeDisk !== undefined) {
            await h.o.makeDisk({ base, baseFormat, target: files.disk, mode: spec.disk.mode, signal });
          } else if (spec.disk.mode === 'overlay') {
            await h.overlays.create(base, baseFormat, files.disk, { signal });
          } else {
            await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', base, files.disk], { signal, timeoutMs: 3_600_000 });
          }
        })();
        const [made, drive] = await Promise.allSettled([disk, vm.buildConfigDrive(spec, files.iso, signal)]);
        if (made.status === 'rejected') throw made.reason;
        if (drive.status === 'rejected') throw drive.reason;
        // Written last: a VM directory with a spec file is completely prepared.
        await vm.writeSpec(spec);
        await rm(p.preparing, { force: true });
      } catch (err) {
        await rm(p.dir, { recursive: true, force: true });
        if (files.sharedDir !== undefined) await rm(files.sharedDir, { recursive: true, force: true });
        throw err;
      }
      h.logger.info({ vmId: id, mode: spec.disk.mode }, 'vm prepared');
      return vm.report();
    }, signal);
  }

  /**
   * Boots a prepared VM (or resumes a suspended one); `size`: the vCPUs and
   * memory it boots with (a resize while powered off).
   *
   * `signal` only keeps a start that has not begun from beginning (its client
   * went away while it queued for the VM's lock: nobody would record it). A
   * start that has begun goes on to its end under its own deadline whatever
   * its caller does: a launch cut short half-way left a QEMU nobody knew of
   * (see qemu-launcher.ts), and its client — a controller that crashed or lost
   * its leadership — is about to be replaced by one that asks again. That one
   * joins the start in progress and gets its outcome: never a second QEMU.
   */
  start(id: string, signal?: AbortSignal, size?: { vcpus: number; memoryMiB: number }): Promise<AgentVmReport> {
    const inProgress = this.#starting.get(id);
    if (inProgress !== undefined) {
      this.host.logger.info({ vmId: id }, 'a start of the VM joins the one in progress');
      return joined(inProgress, signal, id);
    }
    return this.host.locks.run(id, () => {
      const d = deadline(`start of VM ${id}`, START_MS);
      const run = this.#start(id, d.signal, size).finally(() => {
        d.dispose();
        if (this.#starting.get(id) === run) this.#starting.delete(id);
      });
      this.#starting.set(id, run);
      return run;
    }, signal);
  }

  /** The starts under way, by VM id: a second start joins one of them. */
  readonly #starting = new Map<string, Promise<AgentVmReport>>();

  async #start(id: string, signal: AbortSignal, size: { vcpus: number; memoryMiB: number } | undefined): Promise<AgentVmReport> {
    const h = this.host;
    const t0 = performance.now();
    const vm = h.vm(id);
    let spec = await vm.readSpec();
    let cur = await vm.report();
    if (cur.state === 'inmigrate' && (await h.records.savedState(id)) !== undefined) {
      // A restore whose agent died before it was over: its QEMU waits for a state it will never be given (format 2
      // waits for its RAM and device stream, docs/suspend.md). No live migration comes into a VM with a state file:
      // ended, and restored again from the file, which is kept until the VM runs.
      await vm.hypervisor.destroy(id, { signal });
      h.logger.warn({ vmId: id }, 'the QEMU of a restore whose agent died is ended; the VM is restored again from its state file');
      cur = await vm.report();
    }
    if (cur.state === 'paused' && (await h.records.savedState(id)) !== undefined) {
      // A restore whose agent died after QEMU had loaded the whole state but before its `cont` (`qemu.restore.loaded`):
      // the guest is all there, stopped, and nothing but this start would ever run it. No other start leaves a QEMU
      // paused (a fresh boot runs at once), so a paused VM beside its state file is that restore: it runs now, and its
      // file goes as below.
      await vm.hypervisor.resume(id, { signal });
      h.logger.warn({ vmId: id }, 'the restore of a VM whose agent died before it ran the guest is finished: the VM runs');
      cur = await vm.report();
    }
    if (cur.state === 'running' || cur.state === 'paused') {
      // A restore whose agent died after QEMU ran the guest but before its state file was removed (`qemu.restored`):
      // left there, the file would make the VM `suspended` again once it is off, and a later start would bring back
      // memory older than its disk.
      const stale = await h.records.savedState(id);
      if (stale !== undefined) {
        await unlinkBehind(stale);
        h.logger.warn({ vmId: id }, 'the state file of a restore whose agent died is removed: the VM runs from it already');
      }
      return cur;
    }
    if (size !== undefined && (size.vcpus !== spec.vcpus || size.memoryMiB !== spec.memoryMiB)) {
      // Saved memory is restored into a guest of the size it was saved from: QEMU would refuse another one.
      if (cur.state === 'suspended') throw new AgentConflictError({ vmId: id }, 'spec-mismatch', `suspended with ${spec.vcpus} vCPU and ${spec.memoryMiB} MiB: it cannot resume as ${size.vcpus} vCPU and ${size.memoryMiB} MiB`);
      // Kept in the record before QEMU starts: a restarted agent (or a migration) sees the size the guest runs with.
      spec = { ...spec, vcpus: size.vcpus, memoryMiB: size.memoryMiB };
      await vm.writeSpec(spec);
      h.logger.info({ vmId: id, vcpus: size.vcpus, memoryMiB: size.memoryMiB }, 'vm resized');
    }
    // Booting would change the disk a peer is copying: the controller revokes the offer first.
    h.refuseWhileCopied(id);
    if (cur.state === 'crashed') await vm.hypervisor.destroy(id, { signal });
    await h.firewalls.beforeStart(id, spec, signal);
    const saved = cur.state === 'suspended' ? await h.records.savedState(id) : undefined;
    // Where a start's time went, in the log: the steps before the hypervisor's, its own, and the answer's report.
    const t1 = performance.now();
    if (saved !== undefined) {
      await vm.hypervisor.restore(vm.hvSpec(spec), saved, { signal });
      // The running VM must never be restored from it again; its blocks are freed off the answer's path.
      await unlinkBehind(saved);
    } else {
      await vm.hypervisor.start(vm.hvSpec(spec), { signal });
    }
    const t2 = performance.now();
    const report = await vm.report();
    h.logger.info({ vmId: id, from: cur.state, beforeMs: ms(t1 - t0), hypervisorMs: ms(t2 - t1), reportMs: ms(performance.now() - t2) }, 'vm started');
    return report;
  }

  /** ACPI power-off (hard: at once); disks stay. */
  powerOff(id: string, hard: boolean, signal?: AbortSignal): Promise<AgentVmReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      const cur = await vm.report();
      const saved = cur.state === 'suspended' ? await h.records.savedState(id) : undefined;
      if (saved !== undefined) await rm(saved, { force: true });
      if (cur.state !== 'poweroff' && cur.state !== 'suspended') {
        if (hard) await vm.hypervisor.destroy(id, { signal });
        else await vm.hypervisor.shutdown(id, { signal, timeoutMs: 60_000 });
      }
      await h.firewalls.afterEnd(id, false, signal);
      return vm.report();
    }, signal);
  }

  /** ACPI reboot (the guest shuts down by itself, then boots again), a reset when `hard` or when the guest does not shut down within `graceS`. */
  reboot(id: string, req: { hard: boolean; graceS: number }, signal?: AbortSignal): Promise<AgentRebootReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      await vm.readSpec();
      const r = await vm.hypervisor.reboot(id, { signal, hard: req.hard, graceMs: req.graceS * 1000 });
      if (!r.clean) h.logger.warn({ vmId: id, reason: r.reason }, 'vm reset instead of a clean reboot');
      return { ...(await vm.report()), clean: r.clean, ...(r.reason !== undefined ? { resetReason: r.reason } : {}) };
    }, signal);
  }

  /** Saves memory to a file on this host; the process ends. Idempotent: a VM suspended already is reported as it is. */
  suspend(id: string, signal?: AbortSignal): Promise<AgentVmReport> {
    const h = this.host;
    return h.locks.run(id, async () => {
      const vm = h.vm(id);
      const spec = await vm.readSpec();
      // A retry of a suspend that ended here but whose answer was lost (the agent or the controller died): done already.
      const cur = await vm.report();
      if (cur.state === 'suspended') return cur;
      await vm.hypervisor.save(id, h.records.statePath(id, spec), { signal });
      await h.firewalls.afterEnd(id, false, signal);
      return vm.report();
    }, signal);
  }

  /** Epilog: ends the VM and deletes its disks and saved state. Idempotent. */
  delete(id: string, signal?: AbortSignal): Promise<void> {
    return this.#end(id, 'delete', signal);
  }

  /**
   * Lets go of this host's copy of a VM that lives on (or stays on) another
   * host after a migration: ends its QEMU and deletes what is local to this
   * host, never the shared datastore's disk the other copy uses. Idempotent.
   */
  release(id: string, signal?: AbortSignal): Promise<void> {
    return this.#end(id, 'release', signal);
  }

  /** Ends the VM's QEMU and removes its local files; `delete` also removes its files on the shared datastore. */
  #end(id: string, how: 'delete' | 'release', signal?: AbortSignal): Promise<void> {
    const h = this.host;
    // A cold migration's copy in either direction ends first (a receive holds the VM's lock until it stops).
    h.offers.revoke(id);
    const copy = h.receiver.stop(id);
    // A released source copy was measured while it migrated (the planner does not hold the migration for it): QEMU's
    // answer would go with the process. Bounded by a measurement's length; a delete does not wait.
    const measured = how === 'release' ? h.measuring.settled(id, MEASUREMENT_WAIT_MS, signal) : undefined;
    return h.locks.run(id, async () => {
      await copy;
      await measured;
      const vm = h.vm(id);
      const spec = how === 'delete' ? await h.records.readSpec(id) : undefined;
      await vm.hypervisor.destroy(id, { signal });
      await h.firewalls.afterEnd(id, true, signal);
      const shared = spec === undefined ? undefined : vm.files(spec).sharedDir;
      if (shared !== undefined) await rm(shared, { recursive: true, force: true });
      await rm(vm.paths.dir, { recursive: true, force: true });
      h.logger.info({ vmId: id }, how === 'delete' ? 'vm deleted' : 'vm copy released');
    }, signal);
  }

  async get(id: string): Promise<AgentVmReport> {
    await this.host.records.requireSpec(id);
    return this.host.report(id, false);
  }

  /** What the heartbeat sends: never waits for a VM's lock, and one VM's unusable record does not hide the others. */
  async list(signal?: AbortSignal): Promise<AgentVmReport[]> {
    const h = this.host;
    // Sampled side by side, not one VM after another: a beat of a host with many VMs took as long as their file reads in a row.
    const sampled = await Promise.all((await h.records.ids()).map(async (id) => {
      signal?.throwIfAborted();
      // A VM whose record is unusable is still reported: its QEMU may run, and a missing VM looks lost to the controller.
      const held = await h.records.readSpec(id).then(
        (spec) => spec !== undefined,
        (err: unknown) => {
          h.logger.error({ vmId: id, err: errorMessage(err) }, 'vm record unusable');
          return true;
        },
      );
      return held ? [await h.report(id, false)] : [];
    }));
    return sampled.flat();
  }

  /**
   * The last `maxBytes` of the VM's console log on this host: what it printed on the host it came from, then on this
   * one, every boot and resume appended (vm-record-store.ts). Only the tail is read.
   */
  async consoleLog(id: string, signal?: AbortSignal, maxBytes = CONSOLE_TAIL_BYTES): Promise<string> {
    await this.host.records.requireSpec(id);
    const p = this.host.records.paths(id);
    const log = await readFilesTail([p.consoleEarlier, p.consoleLog], maxBytes, signal);
    if (log !== '') return log;
    // A QEMU started by an agent from before the kept log (and adopted since) logs in its run directory.
    const legacy = this.host.hypervisor.consoles?.logPath(id);
    return legacy === undefined || legacy === p.consoleLog ? '' : readFilesTail([legacy], maxBytes, signal).catch(() => '');
  }

  /**
   * Keeps the console log the VM had on the host it came from, to be read before this host's (a migration's carry,
   * after its commit). Replaces one kept before; at most its last CONSOLE_LOG_MAX_BYTES.
   */
  async setEarlierConsole(id: string, log: string): Promise<void> {
    await this.host.records.requireSpec(id);
    await writeFileAtomically(this.host.records.paths(id).consoleEarlier, utf8Tail(Buffer.from(log, 'utf8'), CONSOLE_LOG_MAX_BYTES));
  }

  /** The VM's console socket, for an interactive attach. */
  async consoleSocket(id: string): Promise<string> {
    await this.host.records.requireSpec(id);
    const path = this.host.hypervisor.consoles?.socketPath(id);
    if (path === undefined) throw new ConsoleUnavailableError(id, 'this hypervisor has no interactive console');
    return path;
  }

  /**
   * Reconnects to the VMs still running from before a restart. A destination
   * copy found running was activated (only `activate` runs a copy that came
   * in paused, and only after the commit): its activation is finished here,
   * so that it is no longer treated as incoming.
   */
  async adopt(): Promise<VmStatus[]> {
    const h = this.host;
    const adopted = await h.hypervisor.adopt();
    for (const vm of adopted) {
      if (vm.state !== 'running' || !(await h.records.readIncoming(vm.id))) continue;
      await this.activate(vm.id).catch((err: unknown) => h.logger.warn({ vmId: vm.id, err }, 'could not finish the activation of an adopted VM'));
    }
    return adopted;
  }
}

/** Refuses to prepare over files this host has no record for: whose they are (another host's on the shared datastore, an interrupted call's) is unknown. */
async function refuseFilesNotMade(id: string, dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    const names = await readdir(dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    });
    if (names.length > 0) {
      throw new AgentConflictError({ vmId: id }, 'foreign-files', `${dir} holds ${names.slice(0, 5).join(', ')} but this host has no record of the VM; refusing to overwrite files it did not make (delete the VM, or remove them, first)`);
    }
  }
}

/** A joining caller's view of a start in progress: its outcome, or the caller's own abort (which leaves the start alone). */
function joined<T>(start: Promise<T>, signal: AbortSignal | undefined, id: string): Promise<T> {
  if (signal === undefined) return start;
  if (signal.aborted) return Promise.reject(abortReason(signal, `start of VM ${id}`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal, `start of VM ${id}`));
    signal.addEventListener('abort', onAbort, { once: true });
    start.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const ms = (x: number): number => Math.round(x * 10) / 10;
