import type { FdSender } from './fd-sender.js';
import type { Driver } from '../driver.js';
import type { HypervisorConsoles, RebootOptions, RebootResult, SaveResult, ShutdownResult, StartOptions, VmStats, VmStatus } from '../hypervisor.js';
import type { LiveMigration } from '../live-migration.js';
import type { VmSpec } from '../vm-spec.js';
import type { WaitOptions } from '../../util/deadline.js';
import { QemuRegistry } from './qemu-registry.js';
import { launchQemuVm } from './qemu-launcher.js';
import { adoptQemuVms } from './qemu-adoption.js';
import { QemuPower } from './qemu-power.js';
import { QemuDisks } from './qemu-disks.js';
import { QemuNics } from './qemu-nics.js';
import { QemuSnapshots } from './qemu-snapshots.js';
import { QemuLiveMigration } from './qemu-live-migration.js';
import { QemuDirtyRate } from './qemu-dirty-rate.js';
import { vmPaths } from './vm-paths.js';
import type { QemuDriverOptions } from './qemu-driver-options.js';

/**
 * The QEMU Driver: its parts (registry, launcher, power, disks, NICs,
 * snapshots, live migration) put together behind the core interface. Used
 * through QemuDriver, whose RuntimeHypervisor checks every input first.
 */
export class QemuCoreDriver implements Driver {
  readonly kind = 'qemu';
  readonly kvm: boolean;
  readonly registry: QemuRegistry;
  readonly disks: QemuDisks;
  readonly nics: QemuNics;
  readonly snapshots: QemuSnapshots;
  readonly migration: LiveMigration;
  readonly consoles: HypervisorConsoles;
  readonly dirtyRate: QemuDirtyRate;
  readonly #power: QemuPower;

  constructor(opts: QemuDriverOptions, kvm: boolean) {
    this.kvm = kvm;
    const reg = new QemuRegistry(opts, kvm ? 'kvm' : 'tcg');
    this.registry = reg;
    this.#power = new QemuPower(reg);
    this.disks = new QemuDisks(reg);
    this.nics = new QemuNics(reg);
    this.snapshots = new QemuSnapshots(reg);
    this.dirtyRate = new QemuDirtyRate(reg);
    this.consoles = {
      // A running VM's own (its spec's, kept across launches) when it has one; else its run directory's.
      logPath: (vmId) => reg.find(vmId)?.record.spec.consoleLog ?? vmPaths(opts.runDir, vmId).serialLog,
      socketPath: (vmId) => vmPaths(opts.runDir, vmId).consoleSocket,
    };
    this.migration = new QemuLiveMigration({
      launchIncoming: async (spec, o) => {
        const { autostart, ...wait } = o;
        await launchQemuVm(reg, spec, { kind: 'incoming', autostart, sender: this.#hugeRamSender() }, { ...wait, paused: autostart !== true });
      },
      qmp: (vmId) => reg.qmp(reg.get(vmId)),
      record: (vmId) => reg.get(vmId).record,
      setMigration: async (vmId, migration) => {
        const vm = reg.get(vmId);
        const { migration: _old, ...rest } = vm.record;
        await reg.setRecord(vm, migration === undefined ? rest : { ...rest, migration });
        reg.log.info({ vmId, migration }, 'vm migration record');
      },
      destroy: (vmId, o) => reg.destroy(vmId, o ?? {}),
      failpoint: async (name) => opts.failpoints?.hit(name),
    });
  }

  has(vmId: string): boolean {
    return this.registry.has(vmId);
  }

  specOf(vmId: string): VmSpec {
    return this.registry.get(vmId).record.spec;
  }

  /**
   * The sender that makes a fresh boot's or a migration destination's guest RAM (a memfd QEMU maps on 2 MiB, so that it
   * takes huge pages), under KVM only. Under TCG huge pages lengthen a live migration's stop-and-copy 3–6× (bench/migrate.ts
   * with shmem_enabled advise against never, session 18: idle 242 against 59 ms) and buy the emulated guest nothing, so
   * QEMU makes its own memfd on 4 KiB pages there.
   */
  #hugeRamSender(): FdSender | undefined {
    return this.registry.accel === 'kvm' ? this.#power.fdSender : undefined;
  }

  start(spec: VmSpec, opts: StartOptions): Promise<VmStatus> {
    return launchQemuVm(this.registry, spec, { kind: 'start', sender: this.#hugeRamSender() }, opts);
  }

  restore(spec: VmSpec, statePath: string, opts: StartOptions): Promise<VmStatus> {
    return launchQemuVm(this.registry, spec, { kind: 'restore', statePath, sender: this.#power.fdSender }, opts);
  }

  status(vmId: string, opts: WaitOptions): Promise<VmStatus> {
    return this.registry.status(vmId, opts);
  }

  list(opts: WaitOptions): Promise<VmStatus[]> {
    return Promise.all(this.registry.ids().map((id) => this.registry.status(id, opts)));
  }

  async adopt(opts: WaitOptions, claimed: ReadonlySet<string>): Promise<VmStatus[]> {
    await adoptQemuVms(this.registry, claimed, opts);
    // An agent adopts once, as it starts: the fd sender is started beside it, not by the first save.
    this.#power.warmUp();
    return this.list(opts);
  }

  shutdown(vmId: string, opts: WaitOptions): Promise<ShutdownResult> {
    return this.#power.shutdown(vmId, opts);
  }

  reboot(vmId: string, opts: RebootOptions): Promise<RebootResult> {
    return this.#power.reboot(vmId, opts);
  }

  pause(vmId: string, opts: WaitOptions): Promise<void> {
    return this.#power.pause(vmId, opts);
  }

  resume(vmId: string, opts: WaitOptions): Promise<void> {
    return this.#power.resume(vmId, opts);
  }

  destroy(vmId: string, opts: WaitOptions): Promise<void> {
    return this.registry.destroy(vmId, opts);
  }

  save(vmId: string, statePath: string, opts: WaitOptions): Promise<SaveResult> {
    return this.#power.save(vmId, statePath, opts);
  }

  stats(vmId: string, opts: WaitOptions): Promise<VmStats> {
    return this.#power.stats(vmId, opts);
  }

  async close(): Promise<void> {
    this.registry.close();
    await this.#power.close();
  }
}
