import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { Driver } from '../driver.js';
import type { RebootOptions, RebootResult, SaveResult, ShutdownResult, StartOptions, VmRunState, VmStats, VmStatus } from '../hypervisor.js';
import { HypervisorError, VmNotFoundError } from '../hypervisor-errors.js';
import type { VmSpec } from '../vm-spec.js';
import { ValidationError } from '../../errors/validation-error.js';
import { fakeUptimeMs, type FakeHost, type FakeVm } from './fake-host.js';
import { FakeDisks } from './fake-disks.js';
import { FakeNics } from './fake-nics.js';
import { FakeSnapshots } from './fake-snapshots.js';
import { FakeDirtyRate } from './fake-dirty-rate.js';

export interface FakeCoreDriverOptions {
  readonly host: FakeHost;
  /** Whether disk files exist (a backup copies them). */
  readonly realFiles: boolean;
  /** Capabilities this fake pretends to lack, for tests of callers that must do without. */
  readonly without?: readonly ('disks' | 'nics' | 'snapshots')[] | undefined;
}

const SAVED_MAGIC = 'nubo-fake-saved-state/1';
/** What a fake guest "read" from its disk while booting, so a booted VM shows reads as QEMU's does. */
const BOOT_READ_BYTES = 512 * 1024;

/** The fake's Driver: VMs as records in a FakeHost, no guest. */
export class FakeCoreDriver implements Driver {
  readonly kind = 'fake';
  readonly kvm = false;
  readonly host: FakeHost;
  readonly disks: FakeDisks | undefined;
  readonly nics: FakeNics | undefined;
  readonly snapshots: FakeSnapshots | undefined;
  readonly dirtyRate: FakeDirtyRate;
  /** VMs this instance has taken charge of (started or adopted). */
  readonly #mine = new Set<string>();

  constructor(opts: FakeCoreDriverOptions) {
    this.host = opts.host;
    const lacks = new Set(opts.without ?? []);
    // No `migration` here: the fake has no live migration to offer.
    this.disks = lacks.has('disks') ? undefined : new FakeDisks(this, opts.realFiles);
    this.nics = lacks.has('nics') ? undefined : new FakeNics(this);
    this.snapshots = lacks.has('snapshots') ? undefined : new FakeSnapshots(this, this.host);
    this.dirtyRate = new FakeDirtyRate(this.host, (id) => void this.get(id));
  }

  has(vmId: string): boolean {
    return this.host.vms.has(vmId);
  }

  specOf(vmId: string): VmSpec {
    return this.get(vmId).spec;
  }

  /** A VM this instance holds; VmNotFoundError otherwise. */
  get(vmId: string): FakeVm {
    const vm = this.#mine.has(vmId) ? this.host.vms.get(vmId) : undefined;
    if (!vm) throw new VmNotFoundError(vmId);
    return vm;
  }

  setState(vm: FakeVm, state: VmRunState): void {
    if (vm.runningSince !== undefined) vm.uptimeMs += Date.now() - vm.runningSince;
    vm.runningSince = state === 'running' ? Date.now() : undefined;
    vm.state = state;
  }

  async start(spec: VmSpec, opts: StartOptions): Promise<VmStatus> {
    this.#create(spec, opts.paused === true ? 'paused' : 'running', 0);
    return this.status(spec.id);
  }

  async restore(spec: VmSpec, statePath: string, opts: StartOptions): Promise<VmStatus> {
    let saved: { magic?: string; uptimeMs?: number };
    try {
      saved = JSON.parse(await readFile(statePath, 'utf8')) as typeof saved;
    } catch {
      throw new ValidationError('path', [{ field: 'statePath', message: `saved state ${statePath} does not exist or is unreadable` }]);
    }
    if (saved.magic !== SAVED_MAGIC) throw new HypervisorError(spec.id, 'restore', `${statePath} is not a saved state`);
    this.#create(spec, opts.paused === true ? 'paused' : 'running', saved.uptimeMs ?? 0);
    return this.status(spec.id);
  }

  #create(spec: VmSpec, state: 'running' | 'paused', uptimeMs: number): void {
    this.host.vms.set(spec.id, { spec, state, pid: this.host.nextPid++, uptimeMs, runningSince: state === 'running' ? Date.now() : undefined });
    this.#mine.add(spec.id);
  }

  async status(vmId: string): Promise<VmStatus> {
    const vm = this.get(vmId);
    const alive = vm.state !== 'crashed' && vm.state !== 'shutoff';
    return { id: vmId, state: vm.state, ...(alive ? { pid: vm.pid } : {}), ...(vm.reason !== undefined ? { reason: vm.reason } : {}) };
  }

  async list(): Promise<VmStatus[]> {
    return Promise.all([...this.#mine].filter((id) => this.host.vms.has(id)).map((id) => this.status(id)));
  }

  async adopt(): Promise<VmStatus[]> {
    for (const id of this.host.vms.keys()) this.#mine.add(id);
    return this.list();
  }

  async shutdown(vmId: string): Promise<ShutdownResult> {
    const vm = this.get(vmId);
    const clean = vm.state === 'running' || vm.state === 'shutoff';
    await this.destroy(vmId);
    return { clean };
  }

  async reboot(vmId: string, opts: RebootOptions): Promise<RebootResult> {
    const vm = this.get(vmId);
    // The fake guest always honours the power button when it runs, as QEMU's tiny guest does; a paused one cannot.
    const wasRunning = vm.state === 'running';
    vm.uptimeMs = 0;
    if (vm.runningSince !== undefined) vm.runningSince = Date.now();
    if (opts.hard === true) return { clean: false, reason: 'a hard reboot (reset) was asked for' };
    return wasRunning ? { clean: true } : { clean: false, reason: 'the guest is paused: it cannot act on the ACPI power button' };
  }

  async pause(vmId: string): Promise<void> {
    this.setState(this.get(vmId), 'paused');
  }

  async resume(vmId: string): Promise<void> {
    this.setState(this.get(vmId), 'running');
  }

  async destroy(vmId: string): Promise<void> {
    if (!this.#mine.has(vmId)) return;
    this.host.vms.delete(vmId);
    this.#mine.delete(vmId);
  }

  async save(vmId: string, statePath: string): Promise<SaveResult> {
    const vm = this.get(vmId);
    const began = Date.now();
    this.setState(vm, 'paused');
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

  async stats(vmId: string): Promise<VmStats> {
    const vm = this.get(vmId);
    const memoryBytes = vm.spec.memoryMiB * 1024 * 1024;
    const upMs = fakeUptimeMs(vm);
    // Synthetic but shaped like QEMU's: counters that only grow while the guest runs, and start again with a new process (pid).
    // Booting costs CPU time even before the guest ran for a measurable while.
    const vcpuTimeMs = 1 + upMs * vm.spec.vcpus * 0.01;
    return {
      cpuTimeMs: 1 + vcpuTimeMs * 1.2, vcpuTimeMs, rssBytes: Math.min(memoryBytes, 32 * 1024 * 1024), memoryBytes,
      diskReadBytes: BOOT_READ_BYTES + Math.floor(upMs * 4), diskWriteBytes: Math.floor(upMs * 2), diskReadOps: 1 + Math.floor(upMs / 1000), diskWriteOps: Math.floor(upMs / 2000),
      netRxBytes: Math.floor(upMs * 8) * vm.spec.nics.length, netTxBytes: Math.floor(upMs * 3) * vm.spec.nics.length,
      incarnation: String(vm.pid),
    };
  }

  async close(): Promise<void> {
    this.#mine.clear();
  }
}
