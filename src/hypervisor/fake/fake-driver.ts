import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { Hypervisor, HypervisorCapabilities, RebootOptions, RebootResult, SaveResult, ShutdownResult, StartOptions, VmRunState, VmStats, VmStatus } from '../hypervisor.js';
import { VmExistsError, VmNotFoundError, VmStateError, HypervisorError } from '../hypervisor-errors.js';
import { parseDiskSpec, parseNicSpec, parseVmSpec, type VmSpec } from '../vm-spec.js';
import { nicConflicts } from '../nic-conflicts.js';
import { checkDiskFile, checkSpecFiles, checkWritablePath } from '../check-spec-files.js';
import { ValidationError } from '../../errors/validation-error.js';
import type { WaitOptions } from '../../util/deadline.js';
import { DiskSnapshotExistsError, DiskSnapshotNotFoundError, type DiskSnapshot } from '../disk-snapshot.js';

interface FakeVm {
  spec: VmSpec;
  state: VmRunState;
  pid: number;
  reason?: string;
  /** Guest uptime accumulated before the current running stretch. */
  uptimeMs: number;
  runningSince: number | undefined;
}

/**
 * What outlives a FakeDriver instance: the VMs "running on the host". Giving a
 * new driver the same FakeHost is the fake's version of a restarted agent
 * adopting QEMU processes.
 */
export class FakeHost {
  readonly vms = new Map<string, FakeVm>();
  /** Disk snapshots taken through the driver, by disk file: the fake's stand-in for the snapshot table inside a qcow2 file. */
  readonly diskSnapshots = new Map<string, DiskSnapshot[]>();
  nextPid = 10_000;
}

export interface FakeDriverOptions {
  readonly allowedDirs: readonly string[];
  readonly host?: FakeHost;
  /** Scale tests and the simulator use paths that do not exist; contract tests keep the check. */
  readonly checkFiles?: boolean;
  readonly capabilities?: Partial<HypervisorCapabilities>;
}

const SAVED_MAGIC = 'nubo-fake-saved-state/1';

/**
 * The Hypervisor in memory, for scale tests and the simulator: the same
 * validation and state rules as the QEMU driver, no guest. The contract suite
 * holds both to the same behaviour.
 */
export class FakeDriver implements Hypervisor {
  readonly kind = 'fake';
  readonly capabilities: HypervisorCapabilities;
  readonly host: FakeHost;
  readonly #allowedDirs: readonly string[];
  readonly #checkFiles: boolean;
  /** VMs this instance has taken charge of (started or adopted). */
  readonly #mine = new Set<string>();

  constructor(opts: FakeDriverOptions) {
    this.host = opts.host ?? new FakeHost();
    this.#allowedDirs = opts.allowedDirs;
    this.#checkFiles = opts.checkFiles ?? true;
    this.capabilities = Object.freeze({
      kvm: false,
      // No `migration` here: the fake has no live migration to offer.
      liveMigration: false,
      storageMigration: true,
      postCopy: false,
      saveRestore: true,
      diskHotplug: true,
      nicHotplug: true,
      ...opts.capabilities,
    });
  }

  async start(input: unknown, opts: StartOptions = {}): Promise<VmStatus> {
    const spec = await this.#admit(input);
    this.#create(spec, opts.paused === true ? 'paused' : 'running', 0);
    return this.status(spec.id);
  }

  async restore(input: unknown, statePath: string, opts: StartOptions = {}): Promise<VmStatus> {
    await checkWritablePath('statePath', statePath, this.#allowedDirs);
    let saved: { magic?: string; uptimeMs?: number };
    try {
      saved = JSON.parse(await readFile(statePath, 'utf8')) as typeof saved;
    } catch {
      throw new ValidationError('path', [{ field: 'statePath', message: `saved state ${statePath} does not exist or is unreadable` }]);
    }
    const spec = await this.#admit(input);
    if (saved.magic !== SAVED_MAGIC) throw new HypervisorError(spec.id, 'restore', `${statePath} is not a saved state`);
    this.#create(spec, opts.paused === true ? 'paused' : 'running', saved.uptimeMs ?? 0);
    return this.status(spec.id);
  }

  async #admit(input: unknown): Promise<VmSpec> {
    const spec = parseVmSpec(input);
    if (this.host.vms.has(spec.id)) throw new VmExistsError(spec.id);
    if (this.#checkFiles) await checkSpecFiles(spec, this.#allowedDirs);
    return spec;
  }

  #create(spec: VmSpec, state: 'running' | 'paused', uptimeMs: number): void {
    this.host.vms.set(spec.id, { spec, state, pid: this.host.nextPid++, uptimeMs, runningSince: state === 'running' ? Date.now() : undefined });
    this.#mine.add(spec.id);
  }

  #get(vmId: string): FakeVm {
    const vm = this.#mine.has(vmId) ? this.host.vms.get(vmId) : undefined;
    if (!vm) throw new VmNotFoundError(vmId);
    return vm;
  }

  #require(vmId: string, action: string, allowed: readonly VmRunState[]): FakeVm {
    const vm = this.#get(vmId);
    if (!allowed.includes(vm.state)) {
      throw new VmStateError(vmId, action, vm.state, vm.state === 'postmigrate' ? 'its memory was migrated away; resuming it would run two copies' : `allowed from ${allowed.join(', ')}`);
    }
    return vm;
  }

  #setState(vm: FakeVm, state: VmRunState): void {
    if (vm.runningSince !== undefined) vm.uptimeMs += Date.now() - vm.runningSince;
    vm.runningSince = state === 'running' ? Date.now() : undefined;
    vm.state = state;
  }

  async status(vmId: string, _opts?: WaitOptions): Promise<VmStatus> {
    const vm = this.#get(vmId);
    const alive = vm.state !== 'crashed' && vm.state !== 'shutoff';
    return { id: vmId, state: vm.state, ...(alive ? { pid: vm.pid } : {}), ...(vm.reason !== undefined ? { reason: vm.reason } : {}) };
  }

  async list(_opts?: WaitOptions): Promise<VmStatus[]> {
    return Promise.all([...this.#mine].filter((id) => this.host.vms.has(id)).map((id) => this.status(id)));
  }

  async adopt(_opts?: WaitOptions): Promise<VmStatus[]> {
    for (const id of this.host.vms.keys()) this.#mine.add(id);
    return this.list();
  }

  async shutdown(vmId: string, _opts?: WaitOptions): Promise<ShutdownResult> {
    const vm = this.#get(vmId);
    const clean = vm.state === 'running' || vm.state === 'shutoff';
    await this.destroy(vmId);
    return { clean };
  }

  async reboot(vmId: string, opts: RebootOptions = {}): Promise<RebootResult> {
    const vm = this.#require(vmId, 'reboot', ['running', 'paused']);
    // The fake guest always honours the power button when it runs, as QEMU's tiny guest does; a paused one cannot.
    const wasRunning = vm.state === 'running';
    vm.uptimeMs = 0;
    if (vm.runningSince !== undefined) vm.runningSince = Date.now();
    if (opts.hard === true) return { clean: false, reason: 'a hard reboot (reset) was asked for' };
    return wasRunning ? { clean: true } : { clean: false, reason: 'the guest is paused: it cannot act on the ACPI power button' };
  }

  async pause(vmId: string, _opts?: WaitOptions): Promise<void> {
    this.#setState(this.#require(vmId, 'pause', ['running']), 'paused');
  }

  async resume(vmId: string, _opts?: WaitOptions): Promise<void> {
    this.#setState(this.#require(vmId, 'resume', ['paused']), 'running');
  }

  async destroy(vmId: string, _opts?: WaitOptions): Promise<void> {
    if (!this.#mine.has(vmId)) return;
    this.host.vms.delete(vmId);
    this.#mine.delete(vmId);
  }

  async save(vmId: string, statePath: string, _opts?: WaitOptions): Promise<SaveResult> {
    await checkWritablePath('statePath', statePath, this.#allowedDirs);
    const vm = this.#require(vmId, 'save', ['running', 'paused']);
    const began = Date.now();
    this.#setState(vm, 'paused');
    try {
      await writeFile(statePath, JSON.stringify({ magic: SAVED_MAGIC, vmId, uptimeMs: vm.uptimeMs, memoryMiB: vm.spec.memoryMiB }));
    } catch (err) {
      await rm(statePath, { force: true });
      throw new HypervisorError(vmId, 'save', String(err), { cause: err });
    }
    const { size } = await stat(statePath);
    await this.destroy(vmId);
    return { bytes: size, durationMs: Date.now() - began };
  }

  async attachDisk(vmId: string, input: unknown, _opts?: WaitOptions): Promise<void> {
    const disk = parseDiskSpec(input);
    const vm = this.#require(vmId, 'attach a disk to', ['running', 'paused']);
    if (disk.bus === 'ide') throw new ValidationError('disk spec', [{ field: 'bus', message: 'IDE disks cannot be hot-plugged; use virtio or scsi' }]);
    if (vm.spec.disks.some((d) => d.id === disk.id) || vm.spec.nics.some((n) => n.id === disk.id)) {
      throw new ValidationError('disk spec', [{ field: 'id', message: `device id ${disk.id} is already in use on VM ${vmId}` }]);
    }
    if (this.#checkFiles) await checkDiskFile(disk.path, this.#allowedDirs);
    vm.spec = parseVmSpec({ ...vm.spec, disks: [...vm.spec.disks, disk] });
  }

  async detachDisk(vmId: string, diskId: string, _opts?: WaitOptions): Promise<void> {
    const vm = this.#require(vmId, 'detach a disk from', ['running', 'paused']);
    if (!vm.spec.disks.some((d) => d.id === diskId)) throw new ValidationError('disk', [{ field: 'diskId', message: `VM ${vmId} has no disk ${diskId}` }]);
    vm.spec = parseVmSpec({ ...vm.spec, disks: vm.spec.disks.filter((d) => d.id !== diskId) });
  }

  async attachNic(vmId: string, input: unknown, _opts?: WaitOptions): Promise<void> {
    const nic = parseNicSpec(input);
    const vm = this.#require(vmId, 'attach a NIC to', ['running', 'paused']);
    const same = vm.spec.nics.find((n) => n.id === nic.id);
    if (same !== undefined && JSON.stringify(same) === JSON.stringify(nic)) return;
    const issues = nicConflicts(vm.spec, nic);
    if (issues.length > 0) throw new ValidationError('NIC spec', issues);
    vm.spec = parseVmSpec({ ...vm.spec, nics: [...vm.spec.nics, nic] });
  }

  async detachNic(vmId: string, nicId: string, _opts?: WaitOptions): Promise<void> {
    const vm = this.#require(vmId, 'detach a NIC from', ['running']);
    vm.spec = parseVmSpec({ ...vm.spec, nics: vm.spec.nics.filter((n) => n.id !== nicId) });
  }

  async createDiskSnapshot(vmId: string, diskId: string, name: string, _opts?: WaitOptions): Promise<DiskSnapshot> {
    const { vm, path, list } = this.#snapshots(vmId, diskId, 'take a disk snapshot of');
    if (list.some((x) => x.name === name)) throw new DiskSnapshotExistsError(name);
    const id = String(Math.max(0, ...list.map((x) => Number(x.id))) + 1);
    const snap: DiskSnapshot = { name, id, createdAt: new Date().toISOString(), vmClockSec: Math.floor(this.uptimeSeconds(vm.spec.id)) };
    this.host.diskSnapshots.set(path, [...list, snap]);
    return snap;
  }

  async listDiskSnapshots(vmId: string, diskId: string, _opts?: WaitOptions): Promise<DiskSnapshot[]> {
    return [...this.#snapshots(vmId, diskId, 'list the disk snapshots of').list];
  }

  async deleteDiskSnapshot(vmId: string, diskId: string, name: string, _opts?: WaitOptions): Promise<void> {
    const { path, list } = this.#snapshots(vmId, diskId, 'delete a disk snapshot of');
    if (!list.some((x) => x.name === name)) throw new DiskSnapshotNotFoundError(name);
    this.host.diskSnapshots.set(path, list.filter((x) => x.name !== name));
  }

  #snapshots(vmId: string, diskId: string, action: string): { vm: FakeVm; path: string; list: readonly DiskSnapshot[] } {
    const vm = this.#require(vmId, action, ['running', 'paused']);
    const disk = vm.spec.disks.find((d) => d.id === diskId);
    const refuse = (message: string): ValidationError => new ValidationError('disk snapshot', [{ field: 'diskId', message }]);
    if (disk === undefined) throw refuse(`VM ${vmId} has no disk ${diskId}`);
    if (disk.format !== 'qcow2') throw refuse(`disk ${diskId} is ${disk.format}: only qcow2 disks hold snapshots`);
    if (disk.readOnly) throw refuse(`disk ${diskId} is read-only`);
    return { vm, path: disk.path, list: this.host.diskSnapshots.get(disk.path) ?? [] };
  }

  /** No guest, so no point in time to keep: the disk file's bytes as they are (when the fake checks files, they exist). */
  async backupDisk(vmId: string, diskId: string, targetPath: string, _opts?: WaitOptions): Promise<void> {
    const vm = this.#require(vmId, 'back up a disk of', ['running', 'paused']);
    const disk = vm.spec.disks.find((d) => d.id === diskId);
    if (disk === undefined) throw new ValidationError('disk backup', [{ field: 'diskId', message: `VM ${vmId} has no disk ${diskId}` }]);
    if (!this.#checkFiles) return;
    await checkDiskFile(targetPath, this.#allowedDirs);
    await copyFile(disk.path, targetPath);
  }

  async stats(vmId: string, _opts?: WaitOptions): Promise<VmStats> {
    const vm = this.#get(vmId);
    if (vm.state === 'crashed' || vm.state === 'shutoff') throw new VmStateError(vmId, 'read stats of', vm.state);
    const uptime = vm.uptimeMs + (vm.runningSince !== undefined ? Date.now() - vm.runningSince : 0);
    const memoryBytes = vm.spec.memoryMiB * 1024 * 1024;
    // Booting costs CPU time even before the guest ran for a measurable while.
    return { cpuTimeMs: 1 + uptime * vm.spec.vcpus * 0.01, rssBytes: Math.min(memoryBytes, 32 * 1024 * 1024), memoryBytes };
  }

  async close(): Promise<void> {
    this.#mine.clear();
  }

  // Test and simulator hooks: events that in real life happen behind the driver's back.

  /** The hypervisor process dies. */
  crash(vmId: string): void {
    const vm = this.#get(vmId);
    this.#setState(vm, 'crashed');
    vm.reason = 'the process exited unexpectedly';
  }

  /** The guest powers itself off. */
  guestPowerOff(vmId: string): void {
    const vm = this.#get(vmId);
    this.#setState(vm, 'shutoff');
    vm.reason = 'the guest powered off';
  }

  /** Guest uptime in seconds: what the contract suite reads from a real guest. */
  uptimeSeconds(vmId: string): number {
    const vm = this.#get(vmId);
    return (vm.uptimeMs + (vm.runningSince !== undefined ? Date.now() - vm.runningSince : 0)) / 1000;
  }

  specOf(vmId: string): VmSpec {
    return this.#get(vmId).spec;
  }
}
