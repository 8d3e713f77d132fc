import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { DiskMove, DiskMoveOptions, Hypervisor, HypervisorCapabilities, RebootOptions, RebootResult, SaveResult, ShutdownResult, StartOptions, VmStats, VmStatus } from '../hypervisor.js';
import { HypervisorError, VmExistsError, VmNotFoundError, VmStateError } from '../hypervisor-errors.js';
import { parseDiskSpec, parseNicSpec, parseVmSpec, type VmSpec } from '../vm-spec.js';
import { checkDiskFile, checkSpecFiles, checkWritablePath } from '../check-spec-files.js';
import { ValidationError } from '../../errors/validation-error.js';
import { TimeoutError } from '../../errors/timeout-error.js';
import { errorMessage } from '../../errors/nubo-error.js';
import { pollUntil, type WaitOptions } from '../../util/deadline.js';
import { createTap, deleteTap, type TapRef } from '../../network/tap-device.js';
import { QmpClient } from './qmp-client.js';
import { buildQemuArgv } from './build-qemu-argv.js';
import { qmpHotplugDisk, qmpUnplugDisk } from './qmp-disk-hotplug.js';
import { abandonDiskMoves, diskNodes, qmpMoveDisk } from './qmp-disk-move.js';
import { qmpBackupDisk } from './qmp-disk-backup.js';
import { qmpHotplugNic, qmpUnplugNic } from './qmp-nic-hotplug.js';
import { nicConflicts } from '../nic-conflicts.js';
import { qmpSaveState } from './qmp-save-state.js';
import { qmpCreateDiskSnapshot, qmpDeleteDiskSnapshot, qmpListDiskSnapshots, snapshotNodeOf } from './qmp-disk-snapshot.js';
import type { DiskSnapshot } from '../disk-snapshot.js';
import { mapRunState } from './map-run-state.js';
import { vmPaths, type VmPaths } from './vm-paths.js';
import { isVmId } from '../../core/vm-id.js';
import { ensureQemuGone, isQemuOf, launchQemu, processUsage, readPidFile } from './qemu-process.js';
import { readVmRecord, writeVmRecord, type VmRecord } from './vm-record.js';
import type { LiveMigration } from '../live-migration.js';
import { QemuLiveMigration } from './qemu-live-migration.js';
import type { QmpCommands } from './qmp-schema.js';
import { compileQemuDriverOptions, type QemuDriverOptions, type QemuDriverOptionsInput } from './qemu-driver-options.js';
import { probeKvm } from './probe-kvm.js';

interface LiveVm {
  record: VmRecord;
  readonly paths: VmPaths;
  readonly pid: number;
  qmp: QmpClient | undefined;
  /** Set once the process is gone: how it ended. */
  exit: { state: 'shutoff' | 'crashed'; reason: string } | undefined;
  /** The guest asked to power off (SHUTDOWN event), so a closing socket is no crash. */
  guestShutdown: boolean;
  /** This driver is ending the process itself. */
  ending: boolean;
  /** Set while QEMU runs but its QMP connection is not up yet: the state being started into. */
  starting: 'running' | 'paused' | 'inmigrate' | undefined;
}

const opt = (o: WaitOptions, timeoutMs: number): WaitOptions => ({ signal: o.signal, timeoutMs: o.timeoutMs ?? timeoutMs });

/** How a VM's QEMU is started: fresh, from a saved state file, or waiting for a live migration's stream. */
type LaunchMode = { readonly kind: 'start' } | { readonly kind: 'restore'; readonly statePath: string } | { readonly kind: 'incoming' };

/** Read-only QMP queries `query` lets tests and diagnostics make. */
export type QemuQuery = 'query-block-jobs' | 'query-named-block-nodes' | 'query-migrate' | 'query-migrate-capabilities' | 'query-migrate-parameters' | 'query-status';

/**
 * The Hypervisor over real QEMU. One QMP connection per VM; each VM's sockets,
 * pid file, console log and record live in `<runDir>/<vmId>/`, and QEMU runs
 * daemonised, so VMs survive a restart of the process that owns the driver
 * (`adopt` takes them back).
 */
export class QemuDriver implements Hypervisor {
  readonly kind = 'qemu';
  readonly capabilities: HypervisorCapabilities;
  readonly #opts: QemuDriverOptions;
  readonly #vms = new Map<string, LiveVm>();
  /** Ids whose launch is under way and not yet in #vms. */
  readonly #launching = new Set<string>();
  readonly #log: Logger;
  readonly migration: LiveMigration;

  private constructor(opts: QemuDriverOptions, kvm: boolean) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.migration = new QemuLiveMigration({
      launchIncoming: async (spec, o) => {
        await this.#launch(spec, { kind: 'incoming' }, { ...o, paused: true });
      },
      qmp: (vmId) => this.#qmp(this.#get(vmId)),
      record: (vmId) => this.#get(vmId).record,
      setMigration: async (vmId, migration) => {
        const vm = this.#get(vmId);
        const { migration: _old, ...rest } = vm.record;
        vm.record = migration === undefined ? rest : { ...rest, migration };
        await writeVmRecord(vm.paths.record, vm.record);
        this.#log.info({ vmId, migration }, 'vm migration record');
      },
      destroy: (vmId, o) => this.destroy(vmId, o),
      failpoint: async (name) => this.#opts.failpoints?.hit(name),
    });
    this.capabilities = Object.freeze({
      kvm,
      liveMigration: true,
      storageMigration: true,
      // Post-copy needs userfaultfd and is only sensible with KVM-speed guests.
      postCopy: kvm,
      saveRestore: true,
      diskHotplug: true,
      nicHotplug: true,
    });
  }

  static async create(input: QemuDriverOptionsInput): Promise<QemuDriver> {
    const opts = compileQemuDriverOptions(input);
    const kvm = opts.accel === 'tcg' ? false : await probeKvm(opts.qemuBinary);
    if (opts.accel === 'kvm' && !kvm) throw new HypervisorError('-', 'driver start', 'accel=kvm was asked for but KVM does not work on this host');
    await mkdir(opts.runDir, { recursive: true, mode: 0o700 });
    return new QemuDriver(opts, kvm);
  }

  get accel(): 'kvm' | 'tcg' {
    return this.capabilities.kvm ? 'kvm' : 'tcg';
  }

  consoleLogPath(vmId: string): string {
    return this.pathsOf(vmId).serialLog;
  }

  consoleSocketPath(vmId: string): string {
    return this.pathsOf(vmId).consoleSocket;
  }

  /** Runtime file locations of a VM (console log, sockets); for consoles and tests. */
  pathsOf(vmId: string): VmPaths {
    return vmPaths(this.#opts.runDir, vmId);
  }

  async start(input: unknown, opts: StartOptions = {}): Promise<VmStatus> {
    return this.#launch(input, { kind: 'start' }, opts);
  }

  async restore(input: unknown, statePath: string, opts: StartOptions = {}): Promise<VmStatus> {
    return this.#launch(input, { kind: 'restore', statePath }, opts);
  }

  async #launch(input: unknown, mode: LaunchMode, opts: StartOptions): Promise<VmStatus> {
    const statePath = mode.kind === 'restore' ? mode.statePath : undefined;
    const spec = parseVmSpec(input);
    if (this.#vms.has(spec.id) || this.#launching.has(spec.id)) throw new VmExistsError(spec.id);
    // Claimed before the first await: a second launch of the same id would otherwise pass the check too and start a second QEMU on the same files.
    this.#launching.add(spec.id);
    try {
      return await this.#launchClaimed(spec, mode, statePath, opts);
    } finally {
      this.#launching.delete(spec.id);
    }
  }

  async #launchClaimed(spec: VmSpec, mode: LaunchMode, statePath: string | undefined, opts: StartOptions): Promise<VmStatus> {
    await checkSpecFiles(spec, this.#opts.allowedDirs);
    if (statePath !== undefined) await this.#checkStateFile(statePath);

    const paths = vmPaths(this.#opts.runDir, spec.id);
    await rm(paths.dir, { recursive: true, force: true });
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const taps: TapRef[] = [];
    try {
      for (const nic of spec.nics) {
        if (nic.kind !== 'tap') continue;
        const tap: TapRef = spec.netns === undefined ? { name: nic.ifname } : { name: nic.ifname, netns: spec.netns };
        await createTap(tap, nic.bridge, opt(opts, 10_000), nic.vlan);
        taps.push(tap);
      }
      const record: VmRecord = { spec, taps, startedAt: new Date().toISOString() };
      await writeVmRecord(paths.record, record);
      const argv = buildQemuArgv(spec, {
        accel: this.accel,
        paths,
        paused: opts.paused === true || mode.kind !== 'start',
        ...(statePath !== undefined ? { incoming: `exec:cat ${statePath}` } : mode.kind === 'incoming' ? { incoming: 'defer' } : {}),
      });
      await launchQemu(this.#opts.qemuBinary, argv, spec.netns, opt(opts, 30_000));
      const pid = await readPidFile(paths.pidFile);
      if (pid === undefined) throw new Error('QEMU wrote no pid file');
      // -daemonize sets QEMU's umask to 027: the guest's console log and the control sockets would be group-readable.
      await Promise.all([paths.serialLog, paths.qmpSocket, paths.consoleSocket, paths.vncSocket].map((p) => chmod(p, 0o600).catch(() => undefined)));
      const starting = mode.kind !== 'start' ? 'inmigrate' : opts.paused === true ? 'paused' : 'running';
      const vm: LiveVm = { record, paths, pid, qmp: undefined, exit: undefined, guestShutdown: false, ending: false, starting };
      this.#vms.set(spec.id, vm);
      await this.#connect(vm, opts);
      vm.starting = undefined;
      this.#log.info({ vmId: spec.id, pid, accel: this.accel, mode: mode.kind }, 'vm started');
    } catch (err) {
      const vm = this.#vms.get(spec.id);
      if (vm) {
        await this.destroy(spec.id).catch(() => {});
      } else {
        for (const t of taps) await deleteTap(t).catch(() => {});
        await rm(paths.dir, { recursive: true, force: true });
      }
      if (err instanceof ValidationError) throw err;
      throw new HypervisorError(spec.id, mode.kind === 'incoming' ? 'start incoming' : mode.kind, errorMessage(err), { cause: err });
    }

    const vm = this.#vms.get(spec.id)!;
    if (statePath !== undefined) {
      // The incoming side reaches `paused` once the whole state has been read.
      await pollUntil(
        `restore of ${spec.id}`,
        async () => {
          const s = await this.#qmp(vm).execute('query-status', undefined, opt(opts, 5_000));
          if (s.status === 'inmigrate') return undefined;
          return s.status;
        },
        opt(opts, 120_000),
      ).catch(async (err: unknown) => {
        await this.destroy(spec.id).catch(() => {});
        throw new HypervisorError(spec.id, 'restore', errorMessage(err), { cause: err });
      });
      if (opts.paused !== true) await this.#qmp(vm).execute('cont', undefined, opt(opts, 5_000));
    }
    return this.status(spec.id, opts);
  }

  async #checkStateFile(path: string): Promise<void> {
    await checkWritablePath('statePath', path, this.#opts.allowedDirs);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new ValidationError('path', [{ field: 'statePath', message: `saved state ${path} does not exist` }]);
  }

  async #connect(vm: LiveVm, opts: WaitOptions): Promise<void> {
    const qmp = await QmpClient.connect(vm.paths.qmpSocket, opt(opts, 10_000));
    vm.qmp = qmp;
    const id = vm.record.spec.id;
    void (async () => {
      for await (const e of qmp.events()) {
        if (e.event === 'SHUTDOWN' && e.data['guest'] === true) vm.guestShutdown = true;
        this.#log.debug({ vmId: id, event: e.event, data: e.data, timestamp: e.timestamp }, 'qmp event');
      }
    })().catch(() => {});
    qmp.onClose(() => {
      if (vm.exit || vm.ending) return;
      vm.exit = vm.guestShutdown
        ? { state: 'shutoff', reason: 'the guest powered off' }
        : { state: 'crashed', reason: 'the QEMU process exited unexpectedly' };
      this.#log.warn({ vmId: id, state: vm.exit.state }, vm.exit.reason);
    });
  }

  #get(vmId: string): LiveVm {
    const vm = this.#vms.get(vmId);
    if (!vm) throw new VmNotFoundError(vmId);
    return vm;
  }

  #qmp(vm: LiveVm): QmpClient {
    if (!vm.qmp || vm.exit) throw new VmStateError(vm.record.spec.id, 'talk to', vm.exit?.state ?? 'crashed');
    return vm.qmp;
  }

  async status(vmId: string, opts: WaitOptions = {}): Promise<VmStatus> {
    const vm = this.#get(vmId);
    if (!vm.exit && vm.qmp) {
      try {
        const s = await vm.qmp.execute('query-status', undefined, opt(opts, 3_000));
        const state = mapRunState(s.status);
        return state === 'running' ? { id: vmId, state, pid: vm.pid } : { id: vmId, state, pid: vm.pid, reason: `QEMU run state ${s.status}` };
      } catch (err) {
        // A closed socket means the process is gone; anything else is a QMP problem worth reporting.
        if (!vm.qmp.closed) throw new HypervisorError(vmId, 'status', errorMessage(err), { cause: err });
      }
    }
    if (!vm.exit && !(await isQemuOf(vm.pid, vmId))) vm.exit = { state: 'crashed', reason: 'the QEMU process is gone' };
    // Alive and still connecting: not a crash, just not answering QMP yet.
    if (!vm.exit && vm.starting !== undefined) return { id: vmId, state: vm.starting, pid: vm.pid, reason: 'QEMU is starting' };
    if (!vm.exit) return { id: vmId, state: 'crashed', pid: vm.pid, reason: 'QMP connection lost' };
    return { id: vmId, state: vm.exit.state, reason: vm.exit.reason };
  }

  async list(opts: WaitOptions = {}): Promise<VmStatus[]> {
    return Promise.all([...this.#vms.keys()].map((id) => this.status(id, opts)));
  }

  async adopt(opts: WaitOptions = {}): Promise<VmStatus[]> {
    const names = await readdir(this.#opts.runDir).catch(() => [] as string[]);
    for (const name of names) {
      if (!isVmId(name) || this.#vms.has(name) || this.#launching.has(name)) continue;
      const paths = vmPaths(this.#opts.runDir, name);
      // One unusable record must not keep the other VMs from being adopted; its QEMU (if any) is left as it is, for an operator.
      const record = await readVmRecord(paths.record).catch((err: unknown) => {
        this.#log.error({ vmId: name, err: errorMessage(err) }, 'vm record unusable: not adopted');
        return undefined;
      });
      if (!record || record.spec.id !== name) continue;
      const pid = await readPidFile(paths.pidFile);
      const vm: LiveVm = { record, paths, pid: pid ?? 0, qmp: undefined, exit: undefined, guestShutdown: false, ending: false, starting: undefined };
      this.#vms.set(name, vm);
      if (pid !== undefined && (await isQemuOf(pid, name))) {
        try {
          await this.#connect(vm, opts);
          await this.#settleDiskMoves(vm, opts);
          this.#log.info({ vmId: name, pid }, 'vm adopted');
          continue;
        } catch (err) {
          vm.exit = { state: 'crashed', reason: `QMP unreachable: ${errorMessage(err)}` };
        }
      } else {
        vm.exit = { state: 'crashed', reason: 'the QEMU process was gone when the driver restarted' };
      }
    }
    return this.list(opts);
  }

  /** Adoption: a disk move the previous process left is finished (it had switched over) or undone; the record follows. */
  async #settleDiskMoves(vm: LiveVm, opts: WaitOptions): Promise<void> {
    const vmId = vm.record.spec.id;
    const found = await abandonDiskMoves(this.#qmp(vm), vm.record.movedDisks ?? [], opt(opts, 30_000)).catch(() => []);
    for (const a of found) {
      if (a.pivoted && a.path !== '') {
        const moved = new Set(vm.record.movedDisks ?? []);
        if (moved.has(a.diskId)) moved.delete(a.diskId);
        else moved.add(a.diskId);
        const spec = parseVmSpec({ ...vm.record.spec, disks: vm.record.spec.disks.map((d) => (d.id === a.diskId ? { ...d, path: a.path } : d)) });
        vm.record = { ...vm.record, spec, movedDisks: [...moved] };
        await writeVmRecord(vm.paths.record, vm.record);
      }
      this.#log.warn({ vmId, diskId: a.diskId, pivoted: a.pivoted }, a.pivoted ? 'disk move of the previous driver process had switched over: finished' : 'disk move of the previous driver process undone');
    }
  }

  async shutdown(vmId: string, opts: WaitOptions = {}): Promise<ShutdownResult> {
    const vm = this.#get(vmId);
    const { state } = await this.status(vmId, opts);
    let clean = false;
    if (state === 'running') {
      vm.ending = true;
      const gone = new Promise<void>((resolve) => this.#qmp(vm).onClose(() => resolve()));
      await this.#qmp(vm).execute('system_powerdown', undefined, opt(opts, 5_000));
      const timeoutMs = opts.timeoutMs ?? 60_000;
      let timer: NodeJS.Timeout | undefined;
      clean = await Promise.race([
        gone.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
    } else if (state === 'shutoff') {
      clean = true;
    }
    await this.destroy(vmId, opts);
    this.#log.info({ vmId, clean }, 'vm shut down');
    return { clean };
  }

  async reboot(vmId: string, opts: RebootOptions = {}): Promise<RebootResult> {
    const vm = await this.#require(vmId, 'reboot', ['running', 'paused'], opts);
    const qmp = this.#qmp(vm);
    const reset = async (reason: string): Promise<RebootResult> => {
      await qmp.execute('system_reset', undefined, opt(opts, 5_000));
      this.#log.warn({ vmId, reason }, 'vm reset');
      return { clean: false, reason };
    };
    if (opts.hard === true) return reset('a hard reboot (reset) was asked for');
    const { state } = await this.status(vmId, opts);
    if (state !== 'running') return reset(`the guest is ${state}: it cannot act on the ACPI power button`);
    const graceMs = opts.graceMs ?? 60_000;
    // The guest's own power-off must not end the process: paused in QEMU's `shutdown` state the VM keeps its
    // devices, TAPs and pid, and a reset plus `cont` boots it again.
    await qmp.execute('set-action', { shutdown: 'pause' }, opt(opts, 5_000));
    try {
      await qmp.execute('system_powerdown', undefined, opt(opts, 5_000));
      const down = await pollUntil(
        `guest shutdown of ${vmId}`,
        async () => ((await qmp.execute('query-status', undefined, opt(opts, 5_000))).status === 'shutdown' ? true : undefined),
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
      this.#log.info({ vmId }, 'vm rebooted (the guest shut down by itself)');
      return { clean: true };
    } finally {
      // Back to the default, so that a guest that powers itself off later ends its process as always.
      await qmp.execute('set-action', { shutdown: 'poweroff' }, opt({}, 5_000)).catch((err: unknown) => this.#log.warn({ vmId, err }, 'could not restore the shutdown action'));
    }
  }

  async pause(vmId: string, opts: WaitOptions = {}): Promise<void> {
    const vm = await this.#require(vmId, 'pause', ['running'], opts);
    await this.#qmp(vm).execute('stop', undefined, opt(opts, 5_000));
  }

  async resume(vmId: string, opts: WaitOptions = {}): Promise<void> {
    // Only `paused`: QEMU would also `cont` a postmigrate source, and then two copies would run.
    const vm = await this.#require(vmId, 'resume', ['paused'], opts);
    await this.#qmp(vm).execute('cont', undefined, opt(opts, 5_000));
  }

  async #require(vmId: string, action: string, allowed: readonly string[], opts: WaitOptions): Promise<LiveVm> {
    const vm = this.#get(vmId);
    const { state } = await this.status(vmId, opts);
    if (!allowed.includes(state)) {
      throw new VmStateError(vmId, action, state, state === 'postmigrate' ? 'its memory was migrated away; resuming it would run two copies' : `allowed from ${allowed.join(', ')}`);
    }
    return vm;
  }

  async destroy(vmId: string, opts: WaitOptions = {}): Promise<void> {
    const vm = this.#vms.get(vmId);
    if (!vm) return;
    vm.ending = true;
    if (vm.qmp && !vm.qmp.closed) {
      await vm.qmp.execute('quit', undefined, opt(opts, 3_000)).catch(() => {});
    }
    if (vm.pid > 0) await ensureQemuGone(vm.pid, vmId, opt(opts, 5_000));
    vm.qmp?.close();
    for (const t of vm.record.taps) await deleteTap(t, opt(opts, 10_000));
    await rm(vm.paths.dir, { recursive: true, force: true });
    this.#vms.delete(vmId);
    this.#log.info({ vmId }, 'vm destroyed');
  }

  async save(vmId: string, statePath: string, opts: WaitOptions = {}): Promise<SaveResult> {
    await checkWritablePath('statePath', statePath, this.#opts.allowedDirs);
    const vm = await this.#require(vmId, 'save', ['running', 'paused'], opts);
    const qmp = this.#qmp(vm);
    const began = Date.now();
    const wasRunning = (await this.status(vmId, opts)).state === 'running';
    // Stopped first, so that the state written is one consistent instant and the migration needs one pass.
    if (wasRunning) await qmp.execute('stop', undefined, opt(opts, 5_000));
    try {
      await qmpSaveState(qmp, statePath, opt(opts, 300_000));
    } catch (err) {
      await qmp.execute('migrate_cancel', undefined, opt({}, 5_000)).catch(() => {});
      await rm(statePath, { force: true });
      // The save did not complete, so the VM's state never left: running it again is safe.
      if (wasRunning) await qmp.execute('cont', undefined, opt({}, 5_000)).catch(() => {});
      throw new HypervisorError(vmId, 'save', errorMessage(err), { cause: err });
    }
    const { size } = await stat(statePath);
    await this.destroy(vmId, opts);
    this.#log.info({ vmId, bytes: size }, 'vm saved');
    return { bytes: size, durationMs: Date.now() - began };
  }

  async attachDisk(vmId: string, input: unknown, opts: WaitOptions = {}): Promise<void> {
    const disk = parseDiskSpec(input);
    const vm = await this.#require(vmId, 'attach a disk to', ['running', 'paused'], opts);
    const spec = vm.record.spec;
    if (disk.bus === 'ide') throw new ValidationError('disk spec', [{ field: 'bus', message: 'IDE disks cannot be hot-plugged; use virtio or scsi' }]);
    if (disk.bus === 'scsi' && !spec.disks.some((d) => d.bus === 'scsi')) {
      throw new ValidationError('disk spec', [{ field: 'bus', message: 'this VM has no SCSI controller; use virtio' }]);
    }
    if (spec.disks.some((d) => d.id === disk.id) || spec.nics.some((n) => n.id === disk.id) || disk.id === 'cidata') {
      throw new ValidationError('disk spec', [{ field: 'id', message: `device id ${disk.id} is already in use on VM ${vmId}` }]);
    }
    await checkDiskFile(disk.path, this.#opts.allowedDirs);
    const next = parseVmSpec({ ...spec, disks: [...spec.disks, disk] });
    try {
      await qmpHotplugDisk(this.#qmp(vm), disk, opt(opts, 10_000));
    } catch (err) {
      throw new HypervisorError(vmId, 'attach disk', errorMessage(err), { cause: err });
    }
    vm.record = { ...vm.record, spec: next };
    await writeVmRecord(vm.paths.record, vm.record);
    this.#log.info({ vmId, diskId: disk.id }, 'disk attached');
  }

  async detachDisk(vmId: string, diskId: string, opts: WaitOptions = {}): Promise<void> {
    const vm = await this.#require(vmId, 'detach a disk from', ['running', 'paused'], opts);
    const spec = vm.record.spec;
    if (!spec.disks.some((d) => d.id === diskId)) throw new ValidationError('disk', [{ field: 'diskId', message: `VM ${vmId} has no disk ${diskId}` }]);
    try {
      await qmpUnplugDisk(this.#qmp(vm), diskId, opt(opts, 30_000), diskNodes(diskId, (vm.record.movedDisks ?? []).includes(diskId)));
    } catch (err) {
      throw new HypervisorError(vmId, 'detach disk', `the guest did not release ${diskId}: ${errorMessage(err)}`, { cause: err });
    }
    const next: VmSpec = parseVmSpec({ ...spec, disks: spec.disks.filter((d) => d.id !== diskId) });
    vm.record = { ...vm.record, spec: next, movedDisks: (vm.record.movedDisks ?? []).filter((d) => d !== diskId) };
    await writeVmRecord(vm.paths.record, vm.record);
    this.#log.info({ vmId, diskId }, 'disk detached');
  }

  async moveDisk(vmId: string, diskId: string, move: DiskMove, opts: DiskMoveOptions = {}): Promise<void> {
    const vm = await this.#require(vmId, 'move a disk of', ['running', 'paused'], opts);
    const spec = vm.record.spec;
    const disk = spec.disks.find((d) => d.id === diskId);
    if (disk === undefined) throw new ValidationError('disk move', [{ field: 'diskId', message: `VM ${vmId} has no disk ${diskId}` }]);
    if (disk.readOnly) throw new ValidationError('disk move', [{ field: 'diskId', message: `disk ${diskId} is read-only; there is nothing to mirror` }]);
    if (move.path === disk.path) throw new ValidationError('disk move', [{ field: 'path', message: `disk ${diskId} is already at ${move.path}` }]);
    await checkDiskFile(move.path, this.#opts.allowedDirs);
    const moved = new Set(vm.record.movedDisks ?? []);
    const alternate = moved.has(diskId);
    const direct = disk.cache === 'none' || disk.cache === 'directsync';
    try {
      await qmpMoveDisk(this.#qmp(vm), {
        diskId,
        from: diskNodes(diskId, alternate),
        to: diskNodes(diskId, !alternate),
        path: move.path,
        format: disk.format,
        cache: { direct, 'no-flush': disk.cache === 'unsafe' },
        sync: move.sync,
        speed: move.speedBytes,
        onProgress: opts.onProgress,
      }, { signal: opts.signal, timeoutMs: opts.timeoutMs });
    } catch (err) {
      throw new HypervisorError(vmId, 'disk move', errorMessage(err), { cause: err });
    } finally {
      // Whatever happened after the pivot, the record must say which file and nodes the guest uses now.
      const nodes = await Promise.resolve().then(() => this.#qmp(vm).execute('query-named-block-nodes', { flat: true }, opt({}, 5_000))).catch(() => undefined);
      const onNew = nodes?.some((n) => n['node-name'] === diskNodes(diskId, !alternate).format && n.file === move.path) === true
        && !nodes.some((n) => n['node-name'] === diskNodes(diskId, alternate).format);
      if (onNew) {
        if (alternate) moved.delete(diskId);
        else moved.add(diskId);
        const next = parseVmSpec({ ...spec, disks: spec.disks.map((d) => (d.id === diskId ? { ...d, path: move.path } : d)) });
        vm.record = { ...vm.record, spec: next, movedDisks: [...moved] };
        await writeVmRecord(vm.paths.record, vm.record);
        this.#log.info({ vmId, diskId, path: move.path }, 'disk moved');
      }
    }
  }

  diskPathOf(vmId: string, diskId: string): string | undefined {
    return this.#vms.get(vmId)?.record.spec.disks.find((d) => d.id === diskId)?.path;
  }

  async backupDisk(vmId: string, diskId: string, targetPath: string, opts: WaitOptions = {}): Promise<void> {
    const vm = await this.#require(vmId, 'back up a disk of', ['running', 'paused'], opts);
    if (!vm.record.spec.disks.some((d) => d.id === diskId)) throw new ValidationError('disk backup', [{ field: 'diskId', message: `VM ${vmId} has no disk ${diskId}` }]);
    await checkDiskFile(targetPath, this.#opts.allowedDirs);
    try {
      await qmpBackupDisk(this.#qmp(vm), { diskId, source: diskNodes(diskId, (vm.record.movedDisks ?? []).includes(diskId)).format, path: targetPath }, opts);
    } catch (err) {
      throw new HypervisorError(vmId, 'disk backup', errorMessage(err), { cause: err });
    }
    this.#log.info({ vmId, diskId, path: targetPath }, 'disk backed up');
  }

  async createDiskSnapshot(vmId: string, diskId: string, name: string, opts: WaitOptions = {}): Promise<DiskSnapshot> {
    const vm = await this.#require(vmId, 'take a disk snapshot of', ['running', 'paused'], opts);
    const snap = await qmpCreateDiskSnapshot(this.#qmp(vm), vmId, this.#snapshotNode(vm, diskId), name, opts);
    this.#log.info({ vmId, diskId, snapshot: name }, 'disk snapshot taken');
    return snap;
  }

  async listDiskSnapshots(vmId: string, diskId: string, opts: WaitOptions = {}): Promise<DiskSnapshot[]> {
    const vm = await this.#require(vmId, 'list the disk snapshots of', ['running', 'paused'], opts);
    return qmpListDiskSnapshots(this.#qmp(vm), vmId, this.#snapshotNode(vm, diskId), opts);
  }

  async deleteDiskSnapshot(vmId: string, diskId: string, name: string, opts: WaitOptions = {}): Promise<void> {
    const vm = await this.#require(vmId, 'delete a disk snapshot of', ['running', 'paused'], opts);
    await qmpDeleteDiskSnapshot(this.#qmp(vm), vmId, this.#snapshotNode(vm, diskId), name, opts);
    this.#log.info({ vmId, diskId, snapshot: name }, 'disk snapshot deleted');
  }

  /** The format node the disk's snapshots are in now (a disk move alternates its node names). */
  #snapshotNode(vm: LiveVm, diskId: string): string {
    return snapshotNodeOf(vm.record.spec, diskId, (vm.record.movedDisks ?? []).includes(diskId));
  }

  async attachNic(vmId: string, input: unknown, opts: WaitOptions = {}): Promise<void> {
    const nic = parseNicSpec(input);
    const vm = await this.#require(vmId, 'attach a NIC to', ['running', 'paused'], opts);
    const spec = vm.record.spec;
    const same = spec.nics.find((n) => n.id === nic.id);
    if (same !== undefined && JSON.stringify(same) === JSON.stringify(nic)) return;
    const issues = nicConflicts(spec, nic);
    if (issues.length > 0) throw new ValidationError('NIC spec', issues);
    const next = parseVmSpec({ ...spec, nics: [...spec.nics, nic] });
    let tap: TapRef | undefined;
    try {
      if (nic.kind === 'tap') {
        const t: TapRef = spec.netns === undefined ? { name: nic.ifname } : { name: nic.ifname, netns: spec.netns };
        await createTap(t, nic.bridge, opt(opts, 10_000), nic.vlan);
        tap = t;
        // Recorded once it exists (never before: the name might be another's), so destroy and adoption know it from here on.
        vm.record = { ...vm.record, taps: [...vm.record.taps, t] };
        await writeVmRecord(vm.paths.record, vm.record);
      }
      await qmpHotplugNic(this.#qmp(vm), nic, this.accel, opt(opts, 10_000));
    } catch (err) {
      if (tap !== undefined) {
        const t = tap;
        await deleteTap(t).catch(() => {});
        vm.record = { ...vm.record, taps: vm.record.taps.filter((x) => x.name !== t.name || x.netns !== t.netns) };
        await writeVmRecord(vm.paths.record, vm.record).catch(() => {});
      }
      throw new HypervisorError(vmId, 'attach NIC', errorMessage(err), { cause: err });
    }
    vm.record = { ...vm.record, spec: next };
    await writeVmRecord(vm.paths.record, vm.record);
    this.#log.info({ vmId, nicId: nic.id, mac: nic.mac, ...(tap ? { tap: tap.name } : {}) }, 'NIC attached');
  }

  async detachNic(vmId: string, nicId: string, opts: WaitOptions = {}): Promise<void> {
    // Not from `paused`: the guest has to acknowledge the unplug, and a stopped guest cannot.
    const vm = await this.#require(vmId, 'detach a NIC from', ['running'], opts);
    const spec = vm.record.spec;
    const nic = spec.nics.find((n) => n.id === nicId);
    if (nic === undefined) return;
    try {
      await qmpUnplugNic(this.#qmp(vm), nicId, opt(opts, 30_000));
    } catch (err) {
      throw new HypervisorError(vmId, 'detach NIC', `the guest did not release ${nicId}: ${errorMessage(err)}`, { cause: err });
    }
    const tap = nic.kind === 'tap' ? vm.record.taps.find((t) => t.name === nic.ifname) : undefined;
    if (tap !== undefined) await deleteTap(tap, opt(opts, 10_000));
    vm.record = { ...vm.record, spec: parseVmSpec({ ...spec, nics: spec.nics.filter((n) => n.id !== nicId) }), taps: vm.record.taps.filter((t) => t !== tap) };
    await writeVmRecord(vm.paths.record, vm.record);
    this.#log.info({ vmId, nicId, ...(tap ? { tap: tap.name } : {}) }, 'NIC detached');
  }

  async stats(vmId: string, opts: WaitOptions = {}): Promise<VmStats> {
    const vm = this.#get(vmId);
    const { state } = await this.status(vmId, opts);
    if (state === 'crashed' || state === 'shutoff') throw new VmStateError(vmId, 'read stats of', state);
    const usage = await processUsage(vm.pid);
    return { ...usage, memoryBytes: vm.record.spec.memoryMiB * 1024 * 1024 };
  }

  /** A read-only QMP query of one VM, for tests and diagnostics (what block jobs and nodes are left, …). */
  async query<K extends QemuQuery>(vmId: string, command: K, opts: WaitOptions = {}): Promise<QmpCommands[K]['result']> {
    const qmp = this.#qmp(this.#get(vmId));
    const o = opt(opts, 5_000);
    const args = command === 'query-named-block-nodes' ? { flat: true } : undefined;
    return qmp.executeUnchecked(command, args, o) as Promise<QmpCommands[K]['result']>;
  }

  /** The spec the VM runs with now (hot-plugged disks included). */
  specOf(vmId: string): VmSpec {
    return this.#get(vmId).record.spec;
  }

  async close(): Promise<void> {
    for (const vm of this.#vms.values()) {
      vm.ending = true;
      vm.qmp?.close();
    }
    this.#vms.clear();
  }
}
